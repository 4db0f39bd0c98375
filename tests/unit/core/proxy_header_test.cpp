// Tests for the PROXY protocol header parser: v1 and v2 headers HAProxy sends, each rule of
// proxy-protocol.txt that a header can break, and every split point of valid headers (a
// prefix is need_more, the whole is done with the same result, the client's bytes untouched).
#include "core/proxy_header.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shoal::core {
namespace {

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

proxy_result parse(const std::vector<std::uint8_t>& b, std::size_t v2_max = proxy_v2_default_max) {
  return parse_proxy_header(b, v2_max);
}

std::vector<std::uint8_t> v2(std::uint8_t ver_cmd, std::uint8_t fam, std::vector<std::uint8_t> body) {
  std::vector<std::uint8_t> b = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                                 ver_cmd, fam, static_cast<std::uint8_t>(body.size() >> 8),
                                 static_cast<std::uint8_t>(body.size())};
  for (const std::uint8_t c : body) b.push_back(c);  // (insert trips g++ 12's -Warray-bounds)
  return b;
}

// Every strict prefix needs more; the whole parses to `want` and leaves `after` unconsumed.
void expect_every_split(const std::vector<std::uint8_t>& header, std::string_view after = "GET / HTTP/1.1\r\n") {
  for (std::size_t cut = 0; cut < header.size(); ++cut) {
    const std::vector<std::uint8_t> part(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(cut));
    ASSERT_EQ(parse(part).status, proxy_status::need_more) << "cut at " << cut;
  }
  std::vector<std::uint8_t> whole = header;
  whole.insert(whole.end(), after.begin(), after.end());
  const proxy_result r = parse(whole);
  ASSERT_EQ(r.status, proxy_status::done);
  EXPECT_EQ(r.consumed, header.size());
}

TEST(ProxyHeader, ParsesV1Tcp4) {
  const auto h = bytes("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n");
  expect_every_split(h);
  const proxy_result r = parse(h);
  EXPECT_EQ(r.header.version, 1);
  EXPECT_EQ(r.header.family, proxy_family::ipv4);
  EXPECT_EQ(r.header.source[0], 192);
  EXPECT_EQ(r.header.source[3], 10);
  EXPECT_EQ(r.header.destination[3], 1);
  EXPECT_EQ(r.header.source_port, 56324);
  EXPECT_EQ(r.header.destination_port, 443);
}

TEST(ProxyHeader, ParsesV1Tcp6IncludingCompressedAndMappedForms) {
  const auto h = bytes("PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 65535 0\r\n");
  expect_every_split(h);
  const proxy_result r = parse(h);
  EXPECT_EQ(r.header.family, proxy_family::ipv6);
  const std::array<std::uint8_t, 16> src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::array<std::uint8_t, 16> dst = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  EXPECT_EQ(r.header.source, src);
  EXPECT_EQ(r.header.destination, dst);
  EXPECT_EQ(r.header.source_port, 65535);
  EXPECT_EQ(r.header.destination_port, 0);
  EXPECT_EQ(parse(bytes("PROXY TCP6 1:2:3:4:5:6:7:8 :: 1 2\r\n")).status, proxy_status::done);
}

TEST(ProxyHeader, V1UnknownIgnoresTheRestOfTheLine) {
  expect_every_split(bytes("PROXY UNKNOWN\r\n"));
  const proxy_result r = parse(bytes("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\nxx"));
  EXPECT_EQ(r.status, proxy_status::done);
  EXPECT_EQ(r.header.family, proxy_family::unspecified);
}

TEST(ProxyHeader, RejectsV1ThatBreaksTheSpec) {
  const struct {
    const char* text;
    proxy_error error;
  } cases[] = {
      {"GET / HTTP/1.1\r\n", proxy_error::not_proxy},
      {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::v1_bad_protocol},
      {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP6 1::2::3 ::1 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP6 12345::1 ::1 1 2\r\n", proxy_error::v1_bad_address},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", proxy_error::v1_bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", proxy_error::v1_bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", proxy_error::v1_bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", proxy_error::v1_bad_syntax},
      {"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::v1_bad_syntax},
  };
  for (const auto& c : cases) {
    const proxy_result r = parse(bytes(c.text));
    EXPECT_EQ(r.status, proxy_status::error) << c.text;
    EXPECT_EQ(r.error, c.error) << c.text;
    EXPECT_NE(describe(r.error).find("proxy-protocol.txt"), std::string_view::npos);
  }
}

TEST(ProxyHeader, V1WithoutCrlfWithin107BytesIsTooLong) {
  std::string line = "PROXY UNKNOWN " + std::string(93, 'x');  // 107 bytes, no CRLF
  EXPECT_EQ(parse(bytes(line.substr(0, 106))).status, proxy_status::need_more);
  EXPECT_EQ(parse(bytes(line)).error, proxy_error::v1_too_long);
}

TEST(ProxyHeader, ParsesV2InetWithTlvs) {
  const auto h = v2(0x21, 0x11, {203, 0, 113, 7, 10, 0, 0, 1, 0x1F, 0x90, 0x01, 0xBB,
                                 0x04, 0x00, 0x01, 0xAA});  // one NOOP TLV after the addresses
  expect_every_split(h);
  const proxy_result r = parse(h);
  EXPECT_EQ(r.header.version, 2);
  EXPECT_FALSE(r.header.local);
  EXPECT_EQ(r.header.family, proxy_family::ipv4);
  EXPECT_EQ(r.header.source[0], 203);
  EXPECT_EQ(r.header.destination[0], 10);
  EXPECT_EQ(r.header.source_port, 8080);
  EXPECT_EQ(r.header.destination_port, 443);
}

TEST(ProxyHeader, ParsesV2Inet6) {
  std::vector<std::uint8_t> body(36, 0);
  body[0] = 0x20; body[1] = 0x01; body[15] = 9;  // 2001::9
  body[31] = 1;                                   // ::1
  body[32] = 0x30; body[33] = 0x39;               // 12345
  body[34] = 0; body[35] = 80;
  const auto h = v2(0x21, 0x21, body);
  expect_every_split(h);
  const proxy_result r = parse(h);
  EXPECT_EQ(r.header.family, proxy_family::ipv6);
  EXPECT_EQ(r.header.source[15], 9);
  EXPECT_EQ(r.header.destination[15], 1);
  EXPECT_EQ(r.header.source_port, 12345);
  EXPECT_EQ(r.header.destination_port, 80);
}

TEST(ProxyHeader, V2LocalAndUnspecifiedCarryNoAddress) {
  const proxy_result local = parse(v2(0x20, 0x00, {}));
  EXPECT_EQ(local.status, proxy_status::done);
  EXPECT_TRUE(local.header.local);
  EXPECT_EQ(local.header.family, proxy_family::unspecified);
  const proxy_result local_inet = parse(v2(0x20, 0x11, std::vector<std::uint8_t>(12, 1)));
  EXPECT_TRUE(local_inet.header.local);
  EXPECT_EQ(local_inet.header.family, proxy_family::unspecified);  // LOCAL: ignore the addresses
  const proxy_result unix_socket = parse(v2(0x21, 0x31, std::vector<std::uint8_t>(216, 0)));
  EXPECT_EQ(unix_socket.status, proxy_status::done);
  EXPECT_EQ(unix_socket.header.family, proxy_family::unspecified);
}

TEST(ProxyHeader, RejectsV2ThatBreaksTheSpec) {
  EXPECT_EQ(parse(v2(0x11, 0x11, std::vector<std::uint8_t>(12))).error, proxy_error::v2_bad_version);
  EXPECT_EQ(parse(v2(0x22, 0x11, std::vector<std::uint8_t>(12))).error, proxy_error::v2_bad_command);
  EXPECT_EQ(parse(v2(0x21, 0x41, std::vector<std::uint8_t>(12))).error, proxy_error::v2_bad_family);
  EXPECT_EQ(parse(v2(0x21, 0x13, std::vector<std::uint8_t>(12))).error, proxy_error::v2_bad_family);
  EXPECT_EQ(parse(v2(0x21, 0x11, std::vector<std::uint8_t>(11))).error, proxy_error::v2_too_short);
  EXPECT_EQ(parse(v2(0x21, 0x21, std::vector<std::uint8_t>(35))).error, proxy_error::v2_too_short);
  // The length is judged from the fixed part alone: no need to wait for a too-long body.
  auto big = v2(0x21, 0x11, std::vector<std::uint8_t>(2000));
  big.resize(16);
  EXPECT_EQ(parse(big, 1024).error, proxy_error::v2_too_long);
  auto sig = v2(0x21, 0x11, std::vector<std::uint8_t>(12));
  sig[5] = 0x0C;  // a broken signature
  EXPECT_EQ(parse(sig).error, proxy_error::not_proxy);
  EXPECT_EQ(parse(std::vector<std::uint8_t>{0x0D, 0x0A, 0x0D}).status, proxy_status::need_more);
}

}  // namespace
}  // namespace shoal::core
