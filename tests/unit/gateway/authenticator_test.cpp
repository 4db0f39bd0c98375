// Tests for gateway/authenticator: where an upgrade request carries its token (header, query,
// both, neither, a scheme that is not Bearer), and loading [auth] from key files (kid from the
// file name, a trailing newline ignored, every unusable file named in the error).
#include "gateway/authenticator.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

namespace shoal::gateway {
namespace {

// Parses a request head and runs find_request_token on it.
request_token token_of(const std::string& head) {
  core::http_request_parser parser;
  const auto r = parser.feed(head);
  EXPECT_EQ(r.status, core::http_parse_status::complete) << head;
  return find_request_token(parser.request());
}

std::string request(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

TEST(RequestToken, NoneWhenAbsent) {
  EXPECT_EQ(token_of(request("/ws")).state, request_token::status::none);
  EXPECT_EQ(token_of(request("/ws?tokens=x&a=token=y")).state, request_token::status::none);
}

TEST(RequestToken, BearerHeaderAnyCase) {
  for (const char* scheme : {"Bearer", "bearer", "BEARER"}) {
    const auto t = token_of(request("/ws", std::string("Authorization: ") + scheme + " a.b.c\r\n"));
    EXPECT_EQ(t.state, request_token::status::found) << scheme;
    EXPECT_EQ(t.token, "a.b.c");
  }
}

TEST(RequestToken, OtherSchemeIsRefused) {
  EXPECT_EQ(token_of(request("/ws", "Authorization: Basic dXNlcjpwdw==\r\n")).state,
            request_token::status::bad_scheme);
  EXPECT_EQ(token_of(request("/ws", "Authorization: Bearer\r\n")).state,
            request_token::status::bad_scheme);
}

TEST(RequestToken, QueryParameterAmongOthers) {
  const auto t = token_of(request("/ws?x=1&token=a.b.c&y=2"));
  EXPECT_EQ(t.state, request_token::status::found);
  EXPECT_EQ(t.token, "a.b.c");
  EXPECT_EQ(token_of(request("/ws?token=q")).token, "q");
}

TEST(RequestToken, QueryIsPercentDecoded) {
  EXPECT_EQ(token_of(request("/ws?token=a%2Eb%2ec")).token, "a.b.c");
  EXPECT_EQ(token_of(request("/ws?token=a%2")).token, "a%2");  // not an escape: kept as is
  EXPECT_EQ(token_of(request("/ws?token=a+b")).token, "a+b");  // '+' is not a space in RFC 3986
}

TEST(RequestToken, TwoWaysAtOnceIsAmbiguous) {
  EXPECT_EQ(token_of(request("/ws?token=a", "Authorization: Bearer b\r\n")).state,
            request_token::status::ambiguous);
  EXPECT_EQ(token_of(request("/ws?token=a&token=b")).state, request_token::status::ambiguous);
}

class AuthenticatorLoad : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("shoal-auth-test-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::filesystem::path dir_;
};

std::string b64url(std::string_view in) { return core::base64url_encode(in); }

// An HS256 token over `claims` with `kid`.
std::string hs256(const std::string& secret, const std::string& kid, const std::string& claims) {
  const std::string input = b64url(R"({"alg":"HS256","kid":")" + kid + "\"}") + "." + b64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + b64url({reinterpret_cast<const char*>(mac), len});
}

TEST_F(AuthenticatorLoad, NoKeysIsOff) {
  std::string error;
  const auto a = authenticator::load(auth_config{}, error);
  ASSERT_TRUE(a) << error;
  EXPECT_FALSE(a->enabled());
  EXPECT_NE(a->summary().find("off"), std::string::npos);
}

TEST_F(AuthenticatorLoad, SecretFileNamesItsKidAndLosesItsNewline) {
  const std::string secret = "0123456789abcdef0123456789abcdef-secret";
  auth_config cfg;
  cfg.jwt_secret_files = {write("2026-12.key", secret + "\n")};
  std::string error;
  const auto a = authenticator::load(cfg, error);
  ASSERT_TRUE(a) << error;
  EXPECT_TRUE(a->enabled());
  EXPECT_NE(a->summary().find("2026-12"), std::string::npos) << a->summary();
  const std::int64_t now = std::time(nullptr);
  const std::string claims = R"({"sub":"u1","exp":)" + std::to_string(now + 60) +
                             R"(,"shoal":{"sub":["a.*"],"pub":["b"]}})";
  auth_grant grant;
  ASSERT_EQ(a->verify(hs256(secret, "2026-12", claims), now, grant), core::jwt_error::none);
  EXPECT_EQ(grant.subject, "u1");
  EXPECT_EQ(grant.expires_at, now + 60);
  EXPECT_TRUE(grant.permissions->may_subscribe("a.x"));
  EXPECT_FALSE(grant.permissions->may_publish("a.x"));
  EXPECT_TRUE(grant.permissions->may_publish("b"));
  EXPECT_EQ(a->verify(hs256(secret, "other", claims), now, grant), core::jwt_error::unknown_kid);
  EXPECT_EQ(a->verify(hs256(secret + "\n", "2026-12", claims), now, grant),
            core::jwt_error::bad_signature);
}

TEST_F(AuthenticatorLoad, AnonymousPermissionsFromConfig) {
  auth_config cfg;
  cfg.jwt_secret_files = {write("k.key", std::string(40, 'k'))};
  cfg.required = false;
  cfg.anonymous_subscribe = {"public.>"};
  std::string error;
  const auto a = authenticator::load(cfg, error);
  ASSERT_TRUE(a) << error;
  EXPECT_FALSE(a->required());
  const auth_grant anon = a->anonymous();
  EXPECT_EQ(anon.expires_at, 0);
  EXPECT_TRUE(anon.permissions->may_subscribe("public.news"));
  EXPECT_FALSE(anon.permissions->may_subscribe("private"));
  EXPECT_FALSE(anon.permissions->may_publish("public.news"));
}

TEST_F(AuthenticatorLoad, UnusableFilesAreNamed) {
  const std::pair<std::string, std::string> cases[] = {
      {(dir_ / "missing.key").string(), "cannot open"},
      {write("short.key", "too short"), "short.key"},
  };
  for (const auto& [path, expected] : cases) {
    auth_config cfg;
    cfg.jwt_secret_files = {path};
    std::string error;
    EXPECT_FALSE(authenticator::load(cfg, error)) << path;
    EXPECT_NE(error.find(expected), std::string::npos) << error;
  }
  auth_config cfg;
  cfg.jwt_public_key_files = {write("garbage.pem", "-----BEGIN PUBLIC KEY-----\nnope\n")};
  std::string error;
  EXPECT_FALSE(authenticator::load(cfg, error));
  EXPECT_NE(error.find("garbage.pem"), std::string::npos) << error;
}

}  // namespace
}  // namespace shoal::gateway
