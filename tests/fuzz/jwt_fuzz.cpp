// Fuzz target for verify_jwt. The input is verified as a token against a fixed HS256 secret and
// Ed25519 public key under strict and relaxed rules; then, so that the claims parser is reached
// past the signature, it is re-signed here with the secret: as "header.payload" (base64url text)
// and, split at its first '\n', as header JSON and claims JSON. Invariants: failures leave the
// claims empty, successes respect the rules, OpenSSL's error queue stays empty. A break aborts.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/jwt.hpp"
#include "core/topic_pattern.hpp"

using namespace shoal::core;

namespace {

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "jwt_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);  \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

constexpr std::int64_t now = 1'700'000'000;
constexpr std::string_view secret = "shoal-fuzz-hs256-secret-0123456789abcdef";  // test only
// Public half of a throwaway Ed25519 key (the seed tokens were signed with it, then it was deleted).
constexpr std::string_view ed25519_pem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAZI47itxRC8z5CVq8ufLFgVw5o0BFENf6OevrXtm85g0=\n"
    "-----END PUBLIC KEY-----\n";

const jwt_key_set& key_set() {
  static const jwt_key_set keys = [] {
    jwt_key_set k;
    std::string error;
    FUZZ_CHECK(k.add_secret("hs", secret, error));
    FUZZ_CHECK(k.add_public_pem("ed", ed25519_pem, error));
    return k;
  }();
  return keys;
}

jwt_rules strict_rules() {
  jwt_rules r;
  r.issuer = "https://auth.example";
  r.audience = {"shoal", "shoal-staging"};
  r.max_token_bytes = 4096;
  return r;
}

jwt_rules relaxed_rules() {
  jwt_rules r;
  r.require_exp = false;
  r.leeway_seconds = 0;
  return r;
}

void check_one(std::string_view token, const jwt_rules& rules) {
  jwt_claims claims;
  claims.subject = "stale";
  const jwt_error err = verify_jwt(token, key_set(), rules, now, claims);
  FUZZ_CHECK(ERR_peek_error() == 0);
  FUZZ_CHECK(!to_string(err).empty() && !describe(err).empty());
  if (err != jwt_error::none) {
    FUZZ_CHECK(claims.subject.empty() && claims.expires_at == 0 && claims.sub_patterns.empty() &&
               claims.pub_patterns.empty());
    return;
  }
  FUZZ_CHECK(token.size() <= rules.max_token_bytes);
  if (rules.require_exp) FUZZ_CHECK(claims.expires_at != 0 && claims.expires_at > now - rules.leeway_seconds);
  for (const std::string& p : claims.sub_patterns) FUZZ_CHECK(is_valid_topic_pattern(p, 200));
  for (const std::string& p : claims.pub_patterns) FUZZ_CHECK(is_valid_topic_pattern(p, 200));
}

void check(std::string_view token) {
  static const jwt_rules strict = strict_rules();
  static const jwt_rules relaxed = relaxed_rules();
  check_one(token, strict);
  check_one(token, relaxed);
}

std::string b64url(std::string_view bytes) { return base64url_encode(bytes); }

// signing_input + "." + base64url(HMAC-SHA256(secret, signing_input)).
std::string hs256_signed(std::string_view signing_input) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac.data(), &len);
  return std::string(signing_input) + "." +
         b64url(std::string_view(reinterpret_cast<const char*>(mac.data()), len));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check(input);
  check(hs256_signed(input));
  const std::size_t newline = input.find('\n');
  if (newline != std::string_view::npos) {
    check(hs256_signed(b64url(input.substr(0, newline)) + "." + b64url(input.substr(newline + 1))));
  }
  return 0;
}
