// Tests for gateway/network_list: CIDR parsing (IPv4, IPv6, single addresses, bad prefixes) and
// membership, with IPv4 networks matching IPv4 peers in their v4-mapped form.
#include "gateway/network_list.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <arpa/inet.h>

namespace shoal::gateway {
namespace {

address_limits::key v4(const char* text) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, text, &a.sin_addr);
  return address_limits::key_of(reinterpret_cast<const sockaddr*>(&a));
}

address_limits::key v6(const char* text) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, text, &a.sin6_addr);
  return address_limits::key_of(reinterpret_cast<const sockaddr*>(&a));
}

network parse(const char* text) {
  std::string error;
  auto n = parse_network(text, error);
  EXPECT_TRUE(n) << text << ": " << error;
  return n.value_or(network{});
}

TEST(NetworkList, Ipv4Networks) {
  const network n = parse("10.1.0.0/16");
  EXPECT_TRUE(contains(n, v4("10.1.2.3")));
  EXPECT_TRUE(contains(n, v6("::ffff:10.1.255.255")));
  EXPECT_FALSE(contains(n, v4("10.2.0.1")));
  EXPECT_TRUE(contains(parse("0.0.0.0/0"), v4("203.0.113.9")));
  EXPECT_FALSE(contains(parse("0.0.0.0/0"), v6("2001:db8::1")));  // IPv4 only
  EXPECT_TRUE(contains(parse("192.0.2.7"), v4("192.0.2.7")));
  EXPECT_FALSE(contains(parse("192.0.2.7"), v4("192.0.2.8")));
  EXPECT_TRUE(contains(parse("10.1.2.3/13"), v4("10.7.0.0")));  // host bits ignored
  EXPECT_EQ(parse("10.1.2.3/13"), parse("10.0.0.0/13"));
}

TEST(NetworkList, Ipv6Networks) {
  EXPECT_TRUE(contains(parse("2001:db8::/32"), v6("2001:db8:ffff::1")));
  EXPECT_FALSE(contains(parse("2001:db8::/32"), v6("2001:db9::1")));
  EXPECT_TRUE(contains(parse("::1"), v6("::1")));
  EXPECT_TRUE(contains(parse("2001:db8::/33"), v6("2001:db8:7fff::")));
  EXPECT_FALSE(contains(parse("2001:db8::/33"), v6("2001:db8:8000::")));
}

TEST(NetworkList, RefusesWhatIsNotCidr) {
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "host.local",
                          "10.0.0/8", "[::1]/128", "10.0.0.0/-1"}) {
    std::string error;
    EXPECT_FALSE(parse_network(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(NetworkList, AnyOfAList) {
  const std::vector<network> nets = {parse("10.0.0.0/8"), parse("fd00::/8")};
  EXPECT_TRUE(contains(nets, v4("10.9.9.9")));
  EXPECT_TRUE(contains(nets, v6("fd12::1")));
  EXPECT_FALSE(contains(nets, v4("11.0.0.1")));
  EXPECT_FALSE(contains(std::vector<network>{}, v4("10.0.0.1")));
}

}  // namespace
}  // namespace shoal::gateway
