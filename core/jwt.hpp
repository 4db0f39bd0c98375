// JWT verification (RFC 7519) of JWS compact tokens (RFC 7515) against a fixed set of keys:
// HMAC secrets and RSA, EC P-256/P-384 and Ed25519 public keys, all through OpenSSL EVP.
// A jwt_key_set is built once at start-up, then immutable and shared read-only between threads;
// verify_jwt is a pure function of its arguments (the caller supplies the clock) and never throws
// on bad input: every rejection is one jwt_error value.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::core {

// JWS "alg" values we implement (RFC 7518 §3.1; EdDSA from RFC 8037 §3.1).
enum class jwt_alg : std::uint8_t { hs256, hs384, hs512, rs256, rs384, rs512, es256, es384, eddsa };

// Every reason verify_jwt rejects a token, in the order the checks run.
enum class jwt_error : std::uint8_t {
  none = 0,
  too_large,        // longer than jwt_rules::max_token_bytes (checked before decoding)
  malformed,        // not three dot-separated parts (RFC 7515 §7.1)
  bad_base64,       // a part is not unpadded base64url (RFC 7515 §2)
  bad_header,       // header not a JSON object, alg/kid not strings, typ not JWT, crit present
  bad_claims,       // claims not a JSON object, or a registered claim of the wrong type
  alg_none,         // "alg":"none", unsecured JWS (RFC 7518 §3.6), never accepted
  alg_unsupported,  // an alg we do not implement
  alg_not_allowed,  // the alg does not match the selected key's type (RFC 8725 §3.1)
  unknown_kid,      // "kid" names no key in the set
  no_key,           // no "kid" and no key in the set can verify this alg
  bad_signature,    // the signature does not verify (RFC 7515 §5.2 step 8)
  expired,          // now >= exp + leeway (RFC 7519 §4.1.4)
  not_yet_valid,    // now + leeway < nbf (RFC 7519 §4.1.5)
  missing_exp,      // no exp and jwt_rules::require_exp
  wrong_issuer,     // iss missing or not jwt_rules::issuer (RFC 7519 §4.1.1)
  wrong_audience,   // aud missing or names none of jwt_rules::audience (RFC 7519 §4.1.3)
  bad_permissions,  // the "shoal" claim is not {"sub":[patterns],"pub":[patterns]}
};

// A short snake_case name for metrics labels ("bad_signature"). Static storage; never empty.
std::string_view to_string(jwt_error err) noexcept;
// A one-line human reason for logs ("token signature does not verify"). Static storage; never empty.
std::string_view describe(jwt_error err) noexcept;
// The JWS name of an alg ("HS256", "EdDSA"). Static storage.
std::string_view to_string(jwt_alg alg) noexcept;

struct jwt_rules {
  std::string issuer;                 // empty: iss not checked
  std::vector<std::string> audience;  // empty: aud not checked; else aud must contain one of them
  std::int64_t leeway_seconds = 30;   // clock skew allowed on exp and nbf (negative counts as 0)
  std::size_t max_token_bytes = 8192; // longer tokens: too_large, checked before any decoding
  bool require_exp = true;
};

// What a verified token grants. Filled only when verify_jwt returns none; reset otherwise.
struct jwt_claims {
  std::string subject;                    // "sub", empty if absent
  std::int64_t expires_at = 0;            // "exp" (unix seconds, floored), 0 if absent
  std::vector<std::string> sub_patterns;  // "shoal":{"sub":[...]}, each a valid topic pattern
  std::vector<std::string> pub_patterns;  // "shoal":{"pub":[...]}, each a valid topic pattern
};

// The keys tokens may be signed with, each under a "kid" (may be empty). A token with a kid is
// checked against that key only; one without is tried against every key allowing its alg.
// Built at start-up (the add_* calls are not thread-safe), then immutable: verify_jwt from any
// number of threads at once is safe. Move-only.
class jwt_key_set {
 public:
  jwt_key_set() = default;
  jwt_key_set(jwt_key_set&&) noexcept = default;
  jwt_key_set& operator=(jwt_key_set&&) noexcept = default;
  jwt_key_set(const jwt_key_set&) = delete;
  jwt_key_set& operator=(const jwt_key_set&) = delete;
  ~jwt_key_set() = default;

  // An HMAC secret for HS256/HS384/HS512. Refuses secrets under 32 bytes (RFC 7518 §3.2 asks for
  // at least the hash size) and a non-empty kid already in the set; false with `error` set.
  bool add_secret(std::string kid, std::string_view secret, std::string& error);
  // A PEM "PUBLIC KEY" (SubjectPublicKeyInfo): RSA of 2048 bits or more (RS256/384/512), EC P-256
  // (ES256 only), EC P-384 (ES384 only) or Ed25519 (EdDSA only). Refuses private keys,
  // certificates, other key types and curves, and a non-empty kid already in the set.
  bool add_public_pem(std::string kid, std::string_view pem, std::string& error);

  std::size_t size() const noexcept { return keys_.size(); }
  bool empty() const noexcept { return keys_.empty(); }

 private:
  enum class key_kind : std::uint8_t { hmac, rsa, ec_p256, ec_p384, ed25519 };
  struct pkey_free {
    void operator()(EVP_PKEY* key) const noexcept;
  };
  struct key {
    key(std::string key_id, key_kind key_type, std::string hmac_secret, EVP_PKEY* public_key) noexcept;
    key(key&&) noexcept = default;
    key& operator=(key&&) noexcept = default;
    ~key();  // wipes the secret
    std::string kid;
    key_kind kind;
    std::string secret;  // hmac only
    std::unique_ptr<EVP_PKEY, pkey_free> pkey;  // all but hmac
  };

  // Whether a key of this kind may verify this alg: the one check that stops an RSA public key
  // being used as an HMAC secret (RFC 8725 §2.1).
  static bool allows(key_kind kind, jwt_alg alg) noexcept;
  // Whether `signature` (raw JWS bytes; r||s for ECDSA) is k's signature of `signing_input` under
  // `alg`, which k must allow. Leaves OpenSSL's error queue empty. In jwt_key_set.cpp.
  static bool signature_verifies(const key& k, jwt_alg alg, std::string_view signing_input,
                                 std::string_view signature) noexcept;
  bool has_kid(std::string_view kid) const noexcept;

  std::vector<key> keys_;

  friend jwt_error verify_jwt(std::string_view token, const jwt_key_set& keys,
                              const jwt_rules& rules, std::int64_t now_unix, jwt_claims& out);
};

// `bytes` as unpadded base64url (RFC 7515 §2), the encoding of each part of a token.
std::string base64url_encode(std::string_view bytes);

// Verifies `token` at time `now_unix` (seconds): size, structure, header, key selection, signature,
// then the claims, which are not read before the signature verifies. On none, `out` holds the
// claims; on any error `out` is reset to empty. Leaves OpenSSL's error queue empty.
jwt_error verify_jwt(std::string_view token, const jwt_key_set& keys, const jwt_rules& rules,
                     std::int64_t now_unix, jwt_claims& out);

}  // namespace shoal::core
