// The server's TLS certificates as OpenSSL contexts: a default SSL_CTX and one per SNI
// certificate, built from tls_config on the main thread (at start-up and on SIGHUP) and then
// immutable. Shards share a context read-only (OpenSSL's SSL_CTX is safe for that) and create
// one SSL per accepted connection from it; an SSL holds a reference to its SSL_CTX, and the SNI
// table lives as long as the default SSL_CTX, so a reload never pulls a context from under a
// handshake in progress. tls_store hands a new context to the shards: they check its generation
// (one relaxed atomic load per TLS accept) and take the lock only when it changed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/config.hpp"
#include "gateway/current_value.hpp"

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;

namespace shoal::gateway {

// RFC 6125 §6.4: DNS names compare case-insensitively; "*.example.com" matches exactly one
// label in front of example.com (not example.com itself, not a.b.example.com).
bool sni_name_matches(std::string_view pattern, std::string_view host) noexcept;

class tls_context {
 public:
  // Reads and checks every file of `cfg` (PEM syntax, key matches certificate, chain); on
  // failure returns null with `error` naming the key, the file and OpenSSL's reason.
  static std::shared_ptr<const tls_context> load(const tls_config& cfg, std::string& error);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  // A server-side SSL in accept state with no BIOs yet (the TLS transport gives it memory
  // BIOs), or null.
  SSL* new_session() const noexcept;
  // DNS names of the default certificate and of each SNI certificate, for logs and tests.
  std::string describe() const;

  struct sni_table;  // the SNI certificates and their names (tls_context.cpp)

 private:
  tls_context() = default;

  SSL_CTX* default_ = nullptr;
  sni_table* sni_ = nullptr;  // owned by default_ (its ex_data), freed with it
};

// The current tls_context, shared by the main thread (writer, on SIGHUP) and the shards.
using tls_store = current_value<tls_context>;

}  // namespace shoal::gateway
