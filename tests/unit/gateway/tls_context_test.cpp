// tls_context: SNI name matching (RFC 6125 §6.4) and the start-up errors for files that cannot
// serve (missing, not PEM), each naming its configuration key and file. Whole handshakes with
// real certificates are in tests/integration/test_tls.py.
#include "gateway/tls_context.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace shoal::gateway {
namespace {

TEST(SniNameMatches, ExactNamesIgnoreCaseAndATrailingDot) {
  EXPECT_TRUE(sni_name_matches("example.com", "example.com"));
  EXPECT_TRUE(sni_name_matches("Example.COM", "example.com"));
  EXPECT_TRUE(sni_name_matches("example.com", "example.com."));
  EXPECT_FALSE(sni_name_matches("example.com", "www.example.com"));
  EXPECT_FALSE(sni_name_matches("example.com", "example.co"));
  EXPECT_FALSE(sni_name_matches("example.com", ""));
}

TEST(SniNameMatches, WildcardCoversExactlyOneLabel) {
  EXPECT_TRUE(sni_name_matches("*.example.com", "www.example.com"));
  EXPECT_TRUE(sni_name_matches("*.example.com", "API.Example.com"));
  EXPECT_FALSE(sni_name_matches("*.example.com", "example.com"));
  EXPECT_FALSE(sni_name_matches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(sni_name_matches("*.example.com", ".example.com"));
  EXPECT_FALSE(sni_name_matches("*.example.com", "www.example.org"));
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

std::string load_error(const tls_config& cfg) {
  std::string error;
  EXPECT_EQ(tls_context::load(cfg, error), nullptr);
  return error;
}

TEST(TlsContext, MissingCertificateNamesKeyAndFile) {
  tls_config cfg;
  cfg.cert = "/nonexistent/cert.pem";
  cfg.key = "/nonexistent/key.pem";
  const std::string error = load_error(cfg);
  EXPECT_EQ(error.rfind("tls.cert: /nonexistent/cert.pem: cannot open: No such file", 0), 0u) << error;
}

TEST(TlsContext, GarbageIsNotAPemCertificate) {
  tls_config cfg;
  cfg.cert = write_file("garbage-cert.pem", "this is not a certificate\n");
  cfg.key = cfg.cert;
  const std::string error = load_error(cfg);
  EXPECT_NE(error.find("tls.cert: " + cfg.cert + ": not a PEM certificate"), std::string::npos) << error;
}

TEST(TlsContext, BadCipherListNamesTheKey) {
  tls_config cfg;
  cfg.ciphers = "NOT-A-CIPHER";
  EXPECT_EQ(load_error(cfg).rfind("tls.ciphers: no usable cipher", 0), 0u);
}

}  // namespace
}  // namespace shoal::gateway
