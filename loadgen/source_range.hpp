// Local source addresses for --source ("127.0.0.2-127.0.0.20", or a comma-separated list of
// single IPv4 addresses and ranges). Parsed once by the main thread; the result is read-only for
// the workers, which bind each connection to one of them so that more than ~28k connections
// (one address's ephemeral ports) can reach one server address.
#pragma once

#include <netinet/in.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::loadgen {

// At most this many addresses in one --source value (a typo like 10.0.0.1-10.9.0.1 is refused).
inline constexpr std::size_t max_source_addresses = 65536;

// Returns the addresses in order (port 0), or nullopt with `error` set on a malformed value,
// a range whose end is below its start, or more than max_source_addresses addresses.
std::optional<std::vector<sockaddr_in>> parse_source_range(std::string_view text, std::string& error);

}  // namespace shoal::loadgen
