// Building the TLS contexts (see tls_context.hpp). Main thread only, except new_session() and
// the SNI callback, which run on the shard that accepted the connection and only read.
#include "gateway/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace shoal::gateway {

struct tls_context::sni_table {
  struct entry {
    std::vector<std::string> names;  // DNS names of the certificate (SAN, else the CN)
    SSL_CTX* ctx = nullptr;
  };
  std::vector<std::string> default_names;
  std::vector<entry> entries;
  ~sni_table() {
    for (entry& e : entries) SSL_CTX_free(e.ctx);
  }
};

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// OpenSSL's reason for the last failure on this thread, or `fallback`.
std::string openssl_reason(const char* fallback) {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : fallback;
}

// "" if `path` can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::strerror(errno);
  std::fclose(f);
  return {};
}

std::vector<std::string> certificate_names(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const ASN1_STRING* s = n->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {  // no DNS SAN: the subject's CN, as older certificates carry it
    char cn[256];
    const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (n > 0) names.emplace_back(cn, static_cast<std::size_t>(n));
  }
  return names;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void*) {
  // WebSocket over HTTP/1.1 only (RFC 6455; RFC 8441's HTTP/2 variant is not served).
  static const unsigned char ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

void free_sni_table(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<tls_context::sni_table*>(ptr);
}

int sni_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_sni_table);
  return index;
}

// A context with the policy of `cfg` and no certificate yet.
SSL_CTX* new_ctx(const tls_config& cfg, std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = "tls: cannot create an OpenSSL context: " + openssl_reason("unknown");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, cfg.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
  // Idle connections give their 2 x ~17 KiB record buffers back; the output queue is rebuilt
  // from the same bytes when a write is retried (connection.cpp), at another address.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Resumption by stateless tickets (OpenSSL's default, keyed per context and so shared by every
  // shard); no server-side session cache, which would be a lock shared by the shards.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  if (SSL_CTX_set_cipher_list(ctx, cfg.ciphers.c_str()) != 1) {
    error = "tls.ciphers: no usable cipher in \"" + cfg.ciphers + "\": " + openssl_reason("unknown");
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

// Loads certificate (+ chain) and key; `*_key` name the configuration keys for messages.
bool use_files(SSL_CTX* ctx, const char* cert_key, const std::string& cert, const char* key_key,
               const std::string& key, std::string& error) {
  if (auto why = unreadable(cert); !why.empty()) {
    error = std::string(cert_key) + ": " + cert + ": cannot open: " + why;
    return false;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    error = std::string(cert_key) + ": " + cert + ": not a PEM certificate: " + openssl_reason("unreadable");
    return false;
  }
  if (auto why = unreadable(key); !why.empty()) {
    error = std::string(key_key) + ": " + key + ": cannot open: " + why;
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      error = std::string(key_key) + ": " + key + ": does not match the certificate in " + cert;
    } else {
      error = std::string(key_key) + ": " + key + ": not a PEM private key: " + openssl_reason("unreadable");
    }
    return false;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = std::string(key_key) + ": " + key + ": does not match the certificate in " + cert;
    ERR_clear_error();
    return false;
  }
  return true;
}

bool add_chain(SSL_CTX* ctx, const std::string& chain, std::string& error) {
  if (auto why = unreadable(chain); !why.empty()) {
    error = "tls.chain: " + chain + ": cannot open: " + why;
    return false;
  }
  std::FILE* f = std::fopen(chain.c_str(), "rb");
  int added = 0;
  while (X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
    SSL_CTX_add0_chain_cert(ctx, x);  // takes ownership
    ++added;
  }
  std::fclose(f);
  ERR_clear_error();  // the read that ended the loop
  if (added == 0) {
    error = "tls.chain: " + chain + ": holds no PEM certificate";
    return false;
  }
  return true;
}

int on_servername(SSL* ssl, int*, void* arg) {
  const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!host) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
  const auto* table = static_cast<const tls_context::sni_table*>(arg);
  for (const auto& e : table->entries) {
    for (const std::string& name : e.names) {
      if (sni_name_matches(name, host)) {
        SSL_set_SSL_CTX(ssl, e.ctx);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_OK;  // unknown name: the default certificate (the client decides)
}

}  // namespace

bool sni_name_matches(std::string_view pattern, std::string_view host) noexcept {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // absolute form
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    const std::size_t dot = host.find('.');
    return dot != std::string_view::npos && dot > 0 && iequals(host.substr(dot), suffix);
  }
  return iequals(pattern, host);
}

std::shared_ptr<const tls_context> tls_context::load(const tls_config& cfg, std::string& error) {
  ERR_clear_error();
  std::shared_ptr<tls_context> out(new tls_context);
  out->default_ = new_ctx(cfg, error);
  if (!out->default_) return nullptr;
  out->sni_ = new sni_table;
  SSL_CTX_set_ex_data(out->default_, sni_index(), out->sni_);  // freed with default_
  if (!use_files(out->default_, "tls.cert", cfg.cert, "tls.key", cfg.key, error)) return nullptr;
  if (!cfg.chain.empty() && !add_chain(out->default_, cfg.chain, error)) return nullptr;
  out->sni_->default_names = certificate_names(out->default_);
  for (const std::string& file : cfg.sni_certificates) {
    SSL_CTX* ctx = new_ctx(cfg, error);
    if (!ctx) return nullptr;
    out->sni_->entries.push_back({{}, ctx});
    if (!use_files(ctx, "tls.sni_certificates", file, "tls.sni_certificates", file, error)) return nullptr;
    out->sni_->entries.back().names = certificate_names(ctx);
    if (out->sni_->entries.back().names.empty()) {
      error = "tls.sni_certificates: " + file + ": the certificate names no DNS host";
      return nullptr;
    }
  }
  SSL_CTX_set_tlsext_servername_callback(out->default_, on_servername);
  SSL_CTX_set_tlsext_servername_arg(out->default_, out->sni_);
  return out;
}

tls_context::~tls_context() { SSL_CTX_free(default_); }

SSL* tls_context::new_session() const noexcept {
  SSL* ssl = SSL_new(default_);
  if (!ssl) return nullptr;
  SSL_set_accept_state(ssl);
  return ssl;
}

std::string tls_context::describe() const {
  std::string out;
  const auto join = [&out](const std::vector<std::string>& names) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i) out += ',';
      out += names[i];
    }
  };
  join(sni_->default_names);
  for (const auto& e : sni_->entries) {
    out += " + SNI ";
    join(e.names);
  }
  return out;
}

}  // namespace shoal::gateway
