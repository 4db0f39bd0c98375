// Networks in CIDR notation ("10.0.0.0/8", "2001:db8::/32", or one address) and the test whether
// a client address lies in one: the PROXY protocol's trusted sources. Addresses are the 16-byte
// keys of address_limits (IPv4 as v4-mapped IPv6), so an IPv4 network matches IPv4 peers however
// the socket reported them. Pure values; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/address_limits.hpp"

namespace shoal::gateway {

struct network {
  address_limits::key address;  // the network's first address (host bits cleared)
  unsigned prefix = 128;        // bits that must match, counted in the 128-bit form
  bool operator==(const network&) const = default;
};

// "A.B.C.D[/0..32]" or an IPv6 literal "[/0..128]" (no brackets). Sets `error` when not one.
std::optional<network> parse_network(std::string_view text, std::string& error);

bool contains(const network& net, const address_limits::key& address) noexcept;
bool contains(const std::vector<network>& nets, const address_limits::key& address) noexcept;

}  // namespace shoal::gateway
