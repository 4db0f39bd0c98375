// CIDR networks (see network_list.hpp): parsed with inet_pton, compared bit by bit.
#include "gateway/network_list.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace shoal::gateway {

std::optional<network> parse_network(std::string_view text, std::string& error) {
  const std::size_t slash = text.find('/');
  const std::string host(text.substr(0, slash));
  network net;
  unsigned max_bits = 0, offset = 0;
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    net.address = address_limits::of_ipv4(reinterpret_cast<const std::uint8_t*>(&v4));
    max_bits = 32;
    offset = 96;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    net.address = address_limits::of_ipv6(reinterpret_cast<const std::uint8_t*>(&v6));
    max_bits = 128;
  } else {
    error = "not an IPv4 or IPv6 address (CIDR: 10.0.0.0/8, 2001:db8::/32)";
    return std::nullopt;
  }
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (len.empty() || ec != std::errc{} || end != len.data() + len.size() || bits > max_bits) {
      error = "prefix length must be 0.." + std::to_string(max_bits);
      return std::nullopt;
    }
  }
  net.prefix = offset + bits;
  for (unsigned i = net.prefix; i < 128; ++i)  // host bits cleared, so equal networks compare equal
    net.address.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  return net;
}

bool contains(const network& net, const address_limits::key& address) noexcept {
  const unsigned whole = net.prefix / 8, rest = net.prefix % 8;
  if (std::memcmp(net.address.bytes.data(), address.bytes.data(), whole) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (net.address.bytes[whole] & mask) == (address.bytes[whole] & mask);
}

bool contains(const std::vector<network>& nets, const address_limits::key& address) noexcept {
  for (const network& n : nets)
    if (contains(n, address)) return true;
  return false;
}

}  // namespace shoal::gateway
