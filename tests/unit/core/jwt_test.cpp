// Tests for JWT verification: every alg with keys generated at run time (nothing secret is
// committed) and tokens signed here with OpenSSL, then each way a token is refused: forged
// signatures, alg none and alg/key confusion, time claims, issuer and audience, structure and
// base64url, headers, the "shoal" permission claim, and the key set's own refusals.
#include "core/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoal::core {
namespace {

constexpr std::int64_t now = 1'700'000'000;
const std::string hs_secret = "0123456789abcdef0123456789abcdef-test-only";  // 42 bytes

struct pkey_free {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr generate_rsa(std::size_t bits) {
  return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
}
pkey_ptr generate_ec(const char* curve) { return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)); }
pkey_ptr generate_ed25519() { return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

std::string pem_of(EVP_PKEY* key, bool private_key = false) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_key) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return pem;
}

// Keys generated once per test run: RSA 2048 takes a moment.
struct test_keys {
  pkey_ptr rsa = generate_rsa(2048);
  pkey_ptr p256 = generate_ec("P-256");
  pkey_ptr p384 = generate_ec("P-384");
  pkey_ptr ed25519 = generate_ed25519();
};
const test_keys& keys() {
  static const test_keys k;
  return k;
}

std::string b64url(std::string_view bytes) { return base64url_encode(bytes); }

const EVP_MD* md_for(std::string_view alg) {
  if (alg.ends_with("384")) return EVP_sha384();
  if (alg.ends_with("512")) return EVP_sha512();
  if (alg == "EdDSA") return nullptr;
  return EVP_sha256();
}

// Test-only signer: the raw JWS signature of `input` under `alg` with an HMAC secret or a key.
std::string sign(std::string_view alg, std::string_view input, std::string_view secret, EVP_PKEY* key) {
  if (alg.starts_with("HS")) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    HMAC(md_for(alg), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len);
    return std::string(reinterpret_cast<const char*>(mac.data()), len);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, md_for(alg), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!alg.starts_with("ES")) return sig;
  // DER ECDSA-Sig-Value to JWS r||s (RFC 7518 §3.4).
  const std::size_t half = alg == "ES256" ? 32 : 48;
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(2 * half, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data() + half),
               static_cast<int>(half));
  ECDSA_SIG_free(ecdsa);
  return raw;
}

std::string make_token(std::string_view header_json, std::string_view claims_json, std::string_view alg,
                       std::string_view secret = hs_secret, EVP_PKEY* key = nullptr) {
  const std::string input = b64url(header_json) + "." + b64url(claims_json);
  return input + "." + b64url(sign(alg, input, secret, key));
}

std::string header_for(std::string_view alg, std::string_view kid = {}) {
  std::string h = R"({"typ":"JWT","alg":")" + std::string(alg) + "\"";
  if (!kid.empty()) h += R"(,"kid":")" + std::string(kid) + "\"";
  return h + "}";
}

const std::string good_claims = R"({"sub":"alice","exp":1700000600,"iat":1699999990})";

// A key set with one key of each kind, kids named after the alg family.
jwt_key_set full_key_set() {
  jwt_key_set set;
  std::string error;
  EXPECT_TRUE(set.add_secret("hs", hs_secret, error)) << error;
  EXPECT_TRUE(set.add_public_pem("rs", pem_of(keys().rsa.get()), error)) << error;
  EXPECT_TRUE(set.add_public_pem("es256", pem_of(keys().p256.get()), error)) << error;
  EXPECT_TRUE(set.add_public_pem("es384", pem_of(keys().p384.get()), error)) << error;
  EXPECT_TRUE(set.add_public_pem("ed", pem_of(keys().ed25519.get()), error)) << error;
  return set;
}

jwt_error verify(std::string_view token, const jwt_key_set& set, const jwt_rules& rules = {},
                 jwt_claims* claims_out = nullptr) {
  jwt_claims claims;
  const jwt_error err = verify_jwt(token, set, rules, now, claims);
  EXPECT_EQ(ERR_peek_error(), 0UL) << "OpenSSL error queue left non-empty";
  if (claims_out != nullptr) *claims_out = claims;
  return err;
}

// A valid HS256 token with these claims.
std::string hs256(std::string_view claims) { return make_token(header_for("HS256"), claims, "HS256"); }

jwt_key_set hs_only() {
  jwt_key_set set;
  std::string error;
  EXPECT_TRUE(set.add_secret("", hs_secret, error)) << error;
  return set;
}

void expect_valid(std::string_view alg, std::string_view kid, EVP_PKEY* key) {
  const jwt_key_set set = full_key_set();
  for (const std::string_view with_kid : {kid, std::string_view()}) {
    const std::string token = make_token(header_for(alg, with_kid), good_claims, alg, hs_secret, key);
    jwt_claims claims;
    EXPECT_EQ(verify(token, set, {}, &claims), jwt_error::none) << alg << " kid '" << with_kid << "'";
    EXPECT_EQ(claims.subject, "alice");
    EXPECT_EQ(claims.expires_at, 1700000600);
  }
}

TEST(Jwt, AcceptsHs256Hs384Hs512) {
  expect_valid("HS256", "hs", nullptr);
  expect_valid("HS384", "hs", nullptr);
  expect_valid("HS512", "hs", nullptr);
}

TEST(Jwt, AcceptsRs256Rs384Rs512) {
  expect_valid("RS256", "rs", keys().rsa.get());
  expect_valid("RS384", "rs", keys().rsa.get());
  expect_valid("RS512", "rs", keys().rsa.get());
}

TEST(Jwt, AcceptsEs256AndEs384) {
  expect_valid("ES256", "es256", keys().p256.get());
  expect_valid("ES384", "es384", keys().p384.get());
}

TEST(Jwt, AcceptsEdDsa) { expect_valid("EdDSA", "ed", keys().ed25519.get()); }

// Interop with an independent signer: tokens made by PyJWT 2.6 with throwaway keys whose public
// halves are below (the private halves were not kept). Catches a mistake the signer in this file
// would share with the verifier, such as the order of r and s.
struct pyjwt_case {
  const char* alg;
  const char* pem;
  const char* token;
};
constexpr pyjwt_case pyjwt_cases[] = {
    {"ES256",
     "-----BEGIN PUBLIC KEY-----\n"
     "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE6J/rnGGWWfeTZI3lP/EZcxHAbnzJ\n"
     "gxIfFC1+QqQEfdG+pWdRBhKkvKsyOK0/672BTVIFGuWvcvgdPXyuuFGAtQ==\n"
     "-----END PUBLIC KEY-----\n",
     "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMCwic2hvYWwiOnsic3ViIjpbImNoYXQuKiJdfX0."
     "RpCttLqHTnp5_EUoW4yjYAcGd8UNGrA_FAQdXqgEXF9V6SqRJnA7sHJQl4Wosl4DX6D34APcBRDlDw_Spzc9gQ"},
    {"ES384",
     "-----BEGIN PUBLIC KEY-----\n"
     "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEFw48ClikadpFu6M4gkTUJb0QzEz99rMd\n"
     "7JoSO1d7Ud264JHfn9NoMI08e8DKtRYA0z5kF5F6Iw3uqWfUGMnUTf5MvBTVIKMk\n"
     "3BDDYWpHFAUCGfTMxOI8e22y+3euhuQQ\n"
     "-----END PUBLIC KEY-----\n",
     "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMCwic2hvYWwiOnsic3ViIjpbImNoYXQuKiJdfX0."
     "dC8Hq1RTR1k9gVxLKetIQ1115nMpYIt8GLC2V_wuPpu6NlORzMT_7X1euKHUGqU3NvN8kRvd1zONKxgh_dOGapCDdpsk9MixS1GuVHLY5aOOSTfCNRQXEIGQRPa9FGOu"},
    {"EdDSA",
     "-----BEGIN PUBLIC KEY-----\n"
     "MCowBQYDK2VwAyEAZI47itxRC8z5CVq8ufLFgVw5o0BFENf6OevrXtm85g0=\n"
     "-----END PUBLIC KEY-----\n",
     "eyJhbGciOiJFZERTQSIsImtpZCI6ImVkIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlIiwiYXVk"
     "Ijoic2hvYWwiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTY5OTk5OTk5MCwic2hvYWwiOnsic3ViIjpbImNoYXQuKiIsIm5ld3MvPiJdLCJwdWIiOlsi"
     "Y2hhdC5hbGljZSJdfX0.xrLqgx6BT0oNyXByESiZafx-Tvv8kmoRmH9OS1-N44yemN5OvVM6vxxjcrPvfnjefb9ORecrna-nK9_ZzUFVCQ"},
};

TEST(Jwt, AcceptsTokensSignedByPyJwt) {
  for (const pyjwt_case& c : pyjwt_cases) {
    jwt_key_set set;
    std::string error;
    // The EdDSA token carries kid "ed"; the ES tokens carry none, so any kid does for them.
    ASSERT_TRUE(set.add_public_pem("ed", c.pem, error)) << c.alg << ": " << error;
    jwt_claims claims;
    EXPECT_EQ(verify(c.token, set, {}, &claims), jwt_error::none) << c.alg;
    EXPECT_EQ(claims.subject, "alice");
    EXPECT_EQ(claims.expires_at, 4102444800);
    ASSERT_FALSE(claims.sub_patterns.empty());
    EXPECT_EQ(claims.sub_patterns[0], "chat.*");
  }
}

TEST(Jwt, EmptyKidIsTreatedAsAbsent) {
  const jwt_key_set set = full_key_set();
  EXPECT_EQ(verify(make_token(R"({"alg":"HS256","kid":""})", good_claims, "HS256"), set), jwt_error::none);
}

TEST(Jwt, RejectsSignatureWithOneByteFlipped) {
  const jwt_key_set set = full_key_set();
  for (const auto& [alg, key] : std::vector<std::pair<std::string, EVP_PKEY*>>{
           {"HS256", nullptr}, {"RS256", keys().rsa.get()}, {"ES256", keys().p256.get()},
           {"EdDSA", keys().ed25519.get()}}) {
    const std::string input = b64url(header_for(alg)) + "." + b64url(good_claims);
    std::string sig = sign(alg, input, hs_secret, key);
    sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x01);
    EXPECT_EQ(verify(input + "." + b64url(sig), set), jwt_error::bad_signature) << alg;
  }
}

TEST(Jwt, RejectsPayloadChangedAfterSigning) {
  const jwt_key_set set = full_key_set();
  const std::string token = make_token(header_for("ES384"), good_claims, "ES384", "", keys().p384.get());
  const std::string forged_payload = b64url(R"({"sub":"mallory","exp":1700000600,"iat":1699999990})");
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.find('.', dot1 + 1);
  const std::string forged = token.substr(0, dot1 + 1) + forged_payload + token.substr(dot2);
  EXPECT_EQ(verify(forged, set), jwt_error::bad_signature);
  jwt_claims claims;
  claims.subject = "stale";
  EXPECT_EQ(verify_jwt(forged, set, {}, now, claims), jwt_error::bad_signature);
  EXPECT_TRUE(claims.subject.empty()) << "claims must be reset on failure";
}

TEST(Jwt, RejectsEcdsaSignatureOfWrongLength) {
  const jwt_key_set set = full_key_set();
  const std::string input = b64url(header_for("ES256")) + "." + b64url(good_claims);
  const std::string sig = sign("ES256", input, "", keys().p256.get());
  EXPECT_EQ(verify(input + "." + b64url(sig.substr(0, 63)), set), jwt_error::bad_signature);
  EXPECT_EQ(verify(input + "." + b64url(sig + '\0'), set), jwt_error::bad_signature);
  EXPECT_EQ(verify(input + ".", set), jwt_error::bad_signature);
}

TEST(Jwt, RejectsAlgNoneInAnyCase) {
  const jwt_key_set set = full_key_set();
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    const std::string token =
        b64url(std::string(R"({"alg":")") + alg + R"("})") + "." + b64url(good_claims) + ".";
    EXPECT_EQ(verify(token, set), jwt_error::alg_none) << alg;
  }
}

// RFC 8725 §2.1: an HS256 token whose "secret" is the server's RSA public key.
TEST(Jwt, RejectsHmacSignedWithRsaPublicKey) {
  jwt_key_set set;
  std::string error;
  const std::string pem = pem_of(keys().rsa.get());
  ASSERT_TRUE(set.add_public_pem("rs", pem, error)) << error;
  EXPECT_EQ(verify(make_token(header_for("HS256", "rs"), good_claims, "HS256", pem), set),
            jwt_error::alg_not_allowed);
  EXPECT_EQ(verify(make_token(header_for("HS256"), good_claims, "HS256", pem), set), jwt_error::no_key);
}

TEST(Jwt, RejectsEs256AgainstP384Key) {
  jwt_key_set set;
  std::string error;
  ASSERT_TRUE(set.add_public_pem("p384", pem_of(keys().p384.get()), error)) << error;
  const std::string token =
      make_token(header_for("ES256", "p384"), good_claims, "ES256", "", keys().p256.get());
  EXPECT_EQ(verify(token, set), jwt_error::alg_not_allowed);
  const std::string no_kid = make_token(header_for("ES256"), good_claims, "ES256", "", keys().p256.get());
  EXPECT_EQ(verify(no_kid, set), jwt_error::no_key);
}

TEST(Jwt, RejectsEveryKeyOfTheWrongType) {
  const jwt_key_set set = full_key_set();
  const std::string token = make_token(header_for("RS256", "ed"), good_claims, "RS256", "", keys().rsa.get());
  EXPECT_EQ(verify(token, set), jwt_error::alg_not_allowed);
  const std::string hs = make_token(header_for("HS256", "rs"), good_claims, "HS256");
  EXPECT_EQ(verify(hs, set), jwt_error::alg_not_allowed);
  EXPECT_EQ(verify(hs256(good_claims), jwt_key_set{}), jwt_error::no_key);
}

TEST(Jwt, RejectsExpiredAndAcceptsWithinLeeway) {
  const jwt_key_set set = hs_only();
  jwt_rules rules;
  rules.leeway_seconds = 30;
  EXPECT_EQ(verify(hs256(R"({"exp":1699999900})"), set, rules), jwt_error::expired);
  EXPECT_EQ(verify(hs256(R"({"exp":1699999970})"), set, rules), jwt_error::expired);  // exp + leeway == now
  EXPECT_EQ(verify(hs256(R"({"exp":1699999990})"), set, rules), jwt_error::none);
  rules.leeway_seconds = 0;
  EXPECT_EQ(verify(hs256(R"({"exp":1699999990})"), set, rules), jwt_error::expired);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000000})"), set, rules), jwt_error::expired);  // RFC 7519 4.1.4
  EXPECT_EQ(verify(hs256(R"({"exp":1700000001})"), set, rules), jwt_error::none);
  rules.leeway_seconds = -100;  // counts as 0
  EXPECT_EQ(verify(hs256(R"({"exp":1700000001})"), set, rules), jwt_error::none);
}

TEST(Jwt, RejectsNotYetValidAndAcceptsWithinLeeway) {
  const jwt_key_set set = hs_only();
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"nbf":1700000100})"), set), jwt_error::not_yet_valid);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"nbf":1700000020})"), set), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"nbf":1700000030})"), set), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"nbf":1700000031})"), set), jwt_error::not_yet_valid);
}

TEST(Jwt, TimeClaimsMayBeFloatsAndAreFloored) {
  const jwt_key_set set = hs_only();
  jwt_claims claims;
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600.9,"nbf":1.5e9,"iat":1699999999.5})"), set, {}, &claims),
            jwt_error::none);
  EXPECT_EQ(claims.expires_at, 1700000600);
  jwt_rules strict;
  strict.leeway_seconds = 0;
  EXPECT_EQ(verify(hs256(R"({"exp":1700000000.9})"), set, strict), jwt_error::expired);
}

TEST(Jwt, ExtremeTimesDoNotOverflow) {
  const jwt_key_set set = hs_only();
  EXPECT_EQ(verify(hs256(R"({"exp":9223372036854775807})"), set), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":18446744073709551615})"), set), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":1e300})"), set), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":-1e300})"), set), jwt_error::expired);
  EXPECT_EQ(verify(hs256(R"({"exp":-9223372036854775808})"), set), jwt_error::expired);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"nbf":-9223372036854775808})"), set), jwt_error::none);
  jwt_rules huge;
  huge.leeway_seconds = INT64_MAX;
  EXPECT_EQ(verify(hs256(R"({"exp":0,"nbf":9223372036854775807})"), set, huge), jwt_error::none);
}

TEST(Jwt, RejectsTimeClaimsThatAreNotNumbers) {
  const jwt_key_set set = hs_only();
  EXPECT_EQ(verify(hs256(R"({"exp":"1700000600"})"), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"nbf":null})"), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"iat":true})"), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"exp":1})"), set), jwt_error::bad_claims);  // duplicate
}

TEST(Jwt, MissingExpRefusedUnlessNotRequired) {
  const jwt_key_set set = hs_only();
  EXPECT_EQ(verify(hs256(R"({"sub":"alice"})"), set), jwt_error::missing_exp);
  jwt_rules relaxed;
  relaxed.require_exp = false;
  jwt_claims claims;
  EXPECT_EQ(verify(hs256(R"({"sub":"alice"})"), set, relaxed, &claims), jwt_error::none);
  EXPECT_EQ(claims.expires_at, 0);
}

TEST(Jwt, ChecksIssuer) {
  const jwt_key_set set = hs_only();
  jwt_rules rules;
  rules.issuer = "https://auth.example";
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"iss":"https://auth.example"})"), set, rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"iss":"https://evil.example"})"), set, rules),
            jwt_error::wrong_issuer);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600})"), set, rules), jwt_error::wrong_issuer);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"iss":7})"), set, rules), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"iss":"anyone"})"), set), jwt_error::none);
}

TEST(Jwt, ChecksAudienceAsStringOrArray) {
  const jwt_key_set set = hs_only();
  jwt_rules rules;
  rules.audience = {"shoal", "shoal-staging"};
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":"shoal"})"), set, rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":"other"})"), set, rules), jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":["a","shoal-staging"]})"), set, rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":["a","b"]})"), set, rules), jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":[]})"), set, rules), jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600})"), set, rules), jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":["shoal",3]})"), set, rules), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":{"x":"shoal"}})"), set, rules), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"aud":"other"})"), set), jwt_error::none);
}

TEST(Jwt, RejectsOversizedTokenBeforeDecoding) {
  const jwt_key_set set = hs_only();
  jwt_rules rules;
  rules.max_token_bytes = 100;
  EXPECT_EQ(verify(std::string(101, '!'), set, rules), jwt_error::too_large);
  const std::string big = hs256(R"({"exp":1700000600,"pad":")" + std::string(200, 'x') + "\"}");
  EXPECT_EQ(verify(big, set, rules), jwt_error::too_large);
  rules.max_token_bytes = big.size();
  EXPECT_EQ(verify(big, set, rules), jwt_error::none);
}

TEST(Jwt, RejectsNonBase64UrlCharacters) {
  const jwt_key_set set = hs_only();
  const std::string token = hs256(good_claims);
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.find('.', dot1 + 1);
  // '=' padding, standard-base64 '+' and '/', whitespace, in each part.
  for (const std::size_t at : {std::size_t{4}, dot1 + 3, dot2 + 3}) {
    for (const char bad : {'=', '+', '/', ' ', '\n', '\0', '\xC3'}) {
      std::string t = token;
      t[at] = bad;
      EXPECT_EQ(verify(t, set), jwt_error::bad_base64) << "char " << int(bad) << " at " << at;
    }
  }
  EXPECT_EQ(verify(token + "=", set), jwt_error::bad_base64);
  EXPECT_EQ(verify(token + "==", set), jwt_error::bad_base64);
  EXPECT_EQ(verify(token + "AA", set), jwt_error::bad_base64);  // 43 + 2: length 1 mod 4
  EXPECT_EQ(verify(" " + token, set), jwt_error::bad_base64);
}

TEST(Jwt, RejectsNonCanonicalTrailingBits) {
  const jwt_key_set set = hs_only();
  // Headers of 16 and 17 bytes end in a character with 4 and 2 unused bits. Setting one decodes
  // to the same bytes, so only the canonical-encoding check can refuse it.
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (const std::string_view header_json : {R"({"alg":"HS256"} )", R"({"alg":"HS256"}  )"}) {
    const std::string token = make_token(header_json, good_claims, "HS256");
    ASSERT_EQ(verify(token, set), jwt_error::none);
    std::string header = token.substr(0, token.find('.'));
    ASSERT_NE(header.size() % 4, 0u);
    const std::size_t value = alphabet.find(header.back());
    ASSERT_EQ(value & 3, 0u);
    header.back() = alphabet[value | 1];
    EXPECT_EQ(verify(header + token.substr(token.find('.')), set), jwt_error::bad_base64) << header_json;
  }
}

TEST(Jwt, RejectsWrongNumberOfParts) {
  const jwt_key_set set = hs_only();
  const std::string token = hs256(good_claims);
  EXPECT_EQ(verify("", set), jwt_error::malformed);
  EXPECT_EQ(verify("abc", set), jwt_error::malformed);
  EXPECT_EQ(verify(token.substr(0, token.rfind('.')), set), jwt_error::malformed);
  EXPECT_EQ(verify(token + ".", set), jwt_error::malformed);
  EXPECT_EQ(verify(token + ".abcd", set), jwt_error::malformed);
  EXPECT_EQ(verify("..", set), jwt_error::bad_header);
  EXPECT_EQ(verify("...", set), jwt_error::malformed);
}

TEST(Jwt, RejectsBadHeaders) {
  const jwt_key_set set = hs_only();
  const auto with_header = [](std::string_view header) { return make_token(header, good_claims, "HS256"); };
  EXPECT_EQ(verify(with_header("not json"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"(["HS256"])"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256")"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"typ":"JWT"})"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":256})"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256","kid":1})"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256","typ":"JOSE"})"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256","typ":null})"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256","crit":["exp"]})"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256","alg":"HS256"})"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header("{\"alg\":\"HS256\",\"x\":\"\xff\"}"), set), jwt_error::bad_header);
  EXPECT_EQ(verify(with_header(R"({"alg":"PS256"})"), set), jwt_error::alg_unsupported);
  EXPECT_EQ(verify(with_header(R"({"alg":"hs256"})"), set), jwt_error::alg_unsupported);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256","typ":"jwt","x5u":"https://evil"})"), set), jwt_error::none);
  EXPECT_EQ(verify(with_header(R"({"alg":"HS256"})"), set), jwt_error::none);
}

TEST(Jwt, RejectsClaimsThatAreNotAnObject) {
  const jwt_key_set set = hs_only();
  EXPECT_EQ(verify(hs256(R"(["exp",1700000600])"), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"("claims")"), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256("null"), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256("{\"exp\":1700000600"), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(""), set), jwt_error::bad_claims);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"sub":["alice"]})"), set), jwt_error::bad_claims);
}

TEST(Jwt, SelectsKeyByKid) {
  jwt_key_set set;
  std::string error;
  const std::string secret_a(32, 'a');
  const std::string secret_b(40, 'b');
  ASSERT_TRUE(set.add_secret("a", secret_a, error)) << error;
  ASSERT_TRUE(set.add_secret("b", secret_b, error)) << error;
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(verify(make_token(header_for("HS256", "b"), good_claims, "HS256", secret_b), set), jwt_error::none);
  EXPECT_EQ(verify(make_token(header_for("HS256", "a"), good_claims, "HS256", secret_a), set), jwt_error::none);
  EXPECT_EQ(verify(make_token(header_for("HS256", "a"), good_claims, "HS256", secret_b), set),
            jwt_error::bad_signature);
  EXPECT_EQ(verify(make_token(header_for("HS256", "c"), good_claims, "HS256", secret_b), set),
            jwt_error::unknown_kid);
  // No kid: every key that allows the alg is tried.
  EXPECT_EQ(verify(make_token(header_for("HS256"), good_claims, "HS256", secret_b), set), jwt_error::none);
  EXPECT_EQ(verify(make_token(header_for("HS256"), good_claims, "HS256", hs_secret), set),
            jwt_error::bad_signature);
}

TEST(Jwt, ParsesShoalPermissions) {
  const jwt_key_set set = hs_only();
  jwt_claims claims;
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"sub":"bob","extra":{"x":[1]},)"
                         R"("shoal":{"sub":["chat.*","news/>","a:b-c_d"],"pub":["chat.bob"]}})"),
                   set, {}, &claims),
            jwt_error::none);
  EXPECT_EQ(claims.subject, "bob");
  EXPECT_EQ(claims.sub_patterns, (std::vector<std::string>{"chat.*", "news/>", "a:b-c_d"}));
  EXPECT_EQ(claims.pub_patterns, (std::vector<std::string>{"chat.bob"}));
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"shoal":{}})"), set, {}, &claims), jwt_error::none);
  EXPECT_TRUE(claims.sub_patterns.empty());
  EXPECT_TRUE(claims.pub_patterns.empty());
}

TEST(Jwt, RejectsBadShoalPermissions) {
  const jwt_key_set set = hs_only();
  for (const char* shoal : {R"([])", R"("chat.*")", R"({"sub":"chat.*"})", R"({"sub":["chat",1]})",
                            R"({"pub":[null]})", R"({"sub":["chat..x"]})", R"({"sub":[">.x"]})",
                            R"({"pub":["chat.a b"]})", R"({"pub":[""]})", R"({"pub":[".chat"]})",
                            R"({"subs":["chat"]})", R"({"sub":["a"],"sub":["b"]})"}) {
    const std::string claims = std::string(R"({"exp":1700000600,"shoal":)") + shoal + "}";
    EXPECT_EQ(verify(hs256(claims), set), jwt_error::bad_permissions) << shoal;
  }
  const std::string long_pattern(201, 'x');
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"shoal":{"sub":[")" + long_pattern + "\"]}}"), set),
            jwt_error::bad_permissions);
  EXPECT_EQ(verify(hs256(R"({"exp":1700000600,"shoal":{"sub":[")" + long_pattern.substr(1) + "\"]}}"), set),
            jwt_error::none);
}

TEST(JwtKeySet, RefusesShortSecret) {
  jwt_key_set set;
  std::string error;
  EXPECT_FALSE(set.add_secret("k", std::string(31, 's'), error));
  EXPECT_NE(error.find("32"), std::string::npos) << error;
  EXPECT_TRUE(set.empty());
  EXPECT_TRUE(set.add_secret("k", std::string(32, 's'), error));
  EXPECT_FALSE(set.add_secret("k", std::string(32, 't'), error)) << "duplicate kid";
  EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
  EXPECT_EQ(set.size(), 1u);
}

TEST(JwtKeySet, RefusesWeakOrWrongPemKeys) {
  jwt_key_set set;
  std::string error;
  const pkey_ptr rsa1024 = generate_rsa(1024);
  EXPECT_FALSE(set.add_public_pem("r", pem_of(rsa1024.get()), error));
  EXPECT_NE(error.find("2048"), std::string::npos) << error;
  EXPECT_FALSE(
      set.add_public_pem("g", "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n", error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(set.add_public_pem("g", "", error));
  EXPECT_FALSE(set.add_public_pem("p", pem_of(keys().p256.get(), true), error));
  EXPECT_NE(error.find("private"), std::string::npos) << error;
  const pkey_ptr k1 = generate_ec("secp256k1");
  EXPECT_FALSE(set.add_public_pem("k1", pem_of(k1.get()), error));
  EXPECT_NE(error.find("curve"), std::string::npos) << error;
  const pkey_ptr p521 = generate_ec("P-521");
  EXPECT_FALSE(set.add_public_pem("p521", pem_of(p521.get()), error));
  EXPECT_TRUE(set.empty());
  EXPECT_EQ(ERR_peek_error(), 0UL) << "OpenSSL error queue left non-empty";
  EXPECT_TRUE(set.add_public_pem("ed", pem_of(keys().ed25519.get()), error)) << error;
  EXPECT_FALSE(set.add_public_pem("ed", pem_of(keys().p384.get()), error)) << "duplicate kid";
}

TEST(JwtKeySet, IsMovable) {
  jwt_key_set set = full_key_set();
  jwt_key_set moved(std::move(set));
  EXPECT_EQ(moved.size(), 5u);
  const std::string token = make_token(header_for("EdDSA"), good_claims, "EdDSA", "", keys().ed25519.get());
  EXPECT_EQ(verify(token, moved), jwt_error::none);
  jwt_key_set assigned;
  assigned = std::move(moved);
  EXPECT_EQ(verify(token, assigned), jwt_error::none);
}

TEST(JwtError, EveryErrorHasANameAndAReason) {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(jwt_error::bad_permissions); ++i) {
    const auto err = static_cast<jwt_error>(i);
    EXPECT_FALSE(to_string(err).empty()) << i;
    EXPECT_FALSE(describe(err).empty()) << i;
    for (const char c : to_string(err)) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << to_string(err);
    }
    names.insert(to_string(err));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(jwt_error::bad_permissions) + 1);
  EXPECT_EQ(to_string(jwt_error::bad_signature), "bad_signature");
  EXPECT_EQ(describe(jwt_error::bad_signature), "token signature does not verify");
  EXPECT_EQ(to_string(jwt_alg::eddsa), "EdDSA");
}

TEST(Jwt, Base64urlEncodeIsUnpaddedRfc4648) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");  // the two url-safe letters
}

}  // namespace
}  // namespace shoal::core
