// jwt_key_set (declared in jwt.hpp): loading HMAC secrets and PEM public keys, and the one place
// JWS signatures are checked, all through OpenSSL (HMAC(), EVP_DigestVerify, CRYPTO_memcmp).
// Loading runs at start-up on one thread; signature_verifies only reads the keys, so any number
// of threads may call it at once. OpenSSL's error queue is left empty on every return.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/jwt.hpp"

namespace shoal::core {
namespace {

// RFC 7518 §3.2: an HMAC key at least as long as the hash; 32 bytes is HS256's, and we ask it of
// every HS* key so that one secret may serve all three.
constexpr std::size_t min_secret_bytes = 32;
// Far above any real secret; keeps the length in HMAC()'s int.
constexpr std::size_t max_secret_bytes = 64 * 1024;
// RFC 7518 §3.3: RSA keys of 2048 bits or more.
constexpr int min_rsa_bits = 2048;
constexpr std::size_t max_pem_bytes = 64 * 1024;

struct bio_free {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct md_ctx_free {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* ctx) const noexcept { EVP_PKEY_CTX_free(ctx); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* sig) const noexcept { ECDSA_SIG_free(sig); }
};

const EVP_MD* digest_for(jwt_alg alg) noexcept {
  switch (alg) {
    case jwt_alg::hs256:
    case jwt_alg::rs256:
    case jwt_alg::es256: return EVP_sha256();
    case jwt_alg::hs384:
    case jwt_alg::rs384:
    case jwt_alg::es384: return EVP_sha384();
    case jwt_alg::hs512:
    case jwt_alg::rs512: return EVP_sha512();
    case jwt_alg::eddsa: return nullptr;  // Ed25519 hashes internally (RFC 8032)
  }
  return nullptr;
}

// The curve of an EC key as a NID, or NID_undef.
int curve_of(const EVP_PKEY* pkey) noexcept {
  std::array<char, 80> name{};
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(pkey, name.data(), name.size(), &len) != 1) return NID_undef;
  int nid = OBJ_sn2nid(name.data());
  if (nid == NID_undef) nid = EC_curve_nist2nid(name.data());
  return nid;
}

// RFC 7518 §3.4: a JWS ECDSA signature is r||s, each left-padded to the curve size; OpenSSL
// verifies the DER ECDSA-Sig-Value. Empty result: wrong length or conversion failure.
std::string ecdsa_raw_to_der(std::string_view raw, std::size_t half) noexcept {
  if (raw.size() != 2 * half) return {};
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(bytes + half, static_cast<int>(half), nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  // r and s now belong to sig.
  const int der_len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (der_len <= 0) return {};
  std::string der(static_cast<std::size_t>(der_len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != der_len) return {};
  return der;
}

bool digest_verify(EVP_PKEY* pkey, const EVP_MD* md, std::string_view data,
                   std::string_view signature) noexcept {
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
}

}  // namespace

void jwt_key_set::pkey_free::operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }

jwt_key_set::key::key(std::string key_id, key_kind key_type, std::string hmac_secret,
                      EVP_PKEY* public_key) noexcept
    : kid(std::move(key_id)), kind(key_type), secret(std::move(hmac_secret)), pkey(public_key) {}

jwt_key_set::key::~key() {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
}

bool jwt_key_set::allows(key_kind kind, jwt_alg alg) noexcept {
  switch (kind) {
    case key_kind::hmac:
      return alg == jwt_alg::hs256 || alg == jwt_alg::hs384 || alg == jwt_alg::hs512;
    case key_kind::rsa:
      return alg == jwt_alg::rs256 || alg == jwt_alg::rs384 || alg == jwt_alg::rs512;
    case key_kind::ec_p256: return alg == jwt_alg::es256;
    case key_kind::ec_p384: return alg == jwt_alg::es384;
    case key_kind::ed25519: return alg == jwt_alg::eddsa;
  }
  return false;
}

bool jwt_key_set::has_kid(std::string_view kid) const noexcept {
  for (const key& k : keys_) {
    if (k.kid == kid) return true;
  }
  return false;
}

bool jwt_key_set::add_secret(std::string kid, std::string_view secret, std::string& error) {
  if (!kid.empty() && has_kid(kid)) {
    error = "duplicate key id '" + kid + "'";
    return false;
  }
  if (secret.size() < min_secret_bytes) {
    error = "HMAC secret of " + std::to_string(secret.size()) +
            " bytes is too short: RFC 7518 3.2 requires at least 32 bytes (256 bits)";
    return false;
  }
  if (secret.size() > max_secret_bytes) {
    error = "HMAC secret longer than 64 KiB";
    return false;
  }
  keys_.emplace_back(std::move(kid), key_kind::hmac, std::string(secret), nullptr);
  return true;
}

bool jwt_key_set::add_public_pem(std::string kid, std::string_view pem, std::string& error) {
  if (!kid.empty() && has_kid(kid)) {
    error = "duplicate key id '" + kid + "'";
    return false;
  }
  if (pem.size() > max_pem_bytes) {
    error = "PEM key longer than 64 KiB";
    return false;
  }
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    error = "PEM holds a private key; give only the public key (openssl pkey -pubout)";
    return false;
  }
  if (pem.find("BEGIN CERTIFICATE") != std::string_view::npos) {
    error = "PEM holds a certificate; give its public key (openssl x509 -pubkey -noout)";
    return false;
  }
  std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<EVP_PKEY, pkey_free> pkey(
      bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!pkey) {
    error = "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)";
    return false;
  }
  key_kind kind = key_kind::rsa;
  switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_RSA: {
      const int bits = EVP_PKEY_get_bits(pkey.get());
      if (bits < min_rsa_bits) {
        error = "RSA key of " + std::to_string(bits) +
                " bits is too small: RFC 7518 3.3 requires at least 2048";
        return false;
      }
      kind = key_kind::rsa;
      break;
    }
    case EVP_PKEY_EC: {
      const int nid = curve_of(pkey.get());
      if (nid == NID_X9_62_prime256v1) {
        kind = key_kind::ec_p256;
      } else if (nid == NID_secp384r1) {
        kind = key_kind::ec_p384;
      } else {
        error = "EC key on an unsupported curve (only P-256 for ES256 and P-384 for ES384)";
        return false;
      }
      break;
    }
    case EVP_PKEY_ED25519: kind = key_kind::ed25519; break;
    default:
      error = "unsupported key type (only RSA, EC P-256, EC P-384 and Ed25519)";
      return false;
  }
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  const int checked = check ? EVP_PKEY_public_check(check.get()) : 0;
  ERR_clear_error();
  if (checked != 1 && checked != -2) {  // -2: no check for this key type
    error = "public key fails OpenSSL's consistency check";
    return false;
  }
  keys_.emplace_back(std::move(kid), kind, std::string(), pkey.release());
  return true;
}

bool jwt_key_set::signature_verifies(const key& k, jwt_alg alg, std::string_view signing_input,
                                     std::string_view signature) noexcept {
  if (!allows(k.kind, alg)) return false;
  const EVP_MD* md = digest_for(alg);
  bool ok = false;
  switch (k.kind) {
    case key_kind::hmac: {
      std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
      unsigned int mac_len = 0;
      if (HMAC(md, k.secret.data(), static_cast<int>(k.secret.size()),
               reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
               mac.data(), &mac_len) != nullptr) {
        // The length is public (it follows from alg); the bytes are compared in constant time.
        ok = signature.size() == mac_len && CRYPTO_memcmp(mac.data(), signature.data(), mac_len) == 0;
      }
      break;
    }
    case key_kind::rsa:
    case key_kind::ed25519: ok = digest_verify(k.pkey.get(), md, signing_input, signature); break;
    case key_kind::ec_p256:
    case key_kind::ec_p384: {
      const std::string der = ecdsa_raw_to_der(signature, k.kind == key_kind::ec_p256 ? 32 : 48);
      ok = !der.empty() && digest_verify(k.pkey.get(), md, signing_input, der);
      break;
    }
  }
  ERR_clear_error();
  return ok;
}

}  // namespace shoal::core
