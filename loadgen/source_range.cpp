// --source parsing. Main thread, before the run. IPv4 only: ranges step through the 32-bit
// address in host order, so 127.0.0.250-127.0.1.5 crosses the octet boundary as expected.
#include "loadgen/source_range.hpp"

#include <arpa/inet.h>

#include <cstdint>

namespace shoal::loadgen {
namespace {

std::optional<std::uint32_t> parse_ipv4(std::string_view s) {
  const std::string text(s);
  in_addr a{};
  if (text.empty() || ::inet_pton(AF_INET, text.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

sockaddr_in make_addr(std::uint32_t host_order) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(host_order);
  return sa;
}

}  // namespace

std::optional<std::vector<sockaddr_in>> parse_source_range(std::string_view text, std::string& error) {
  std::vector<sockaddr_in> out;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto dash = item.find('-');
    const auto first = parse_ipv4(item.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : parse_ipv4(item.substr(dash + 1));
    if (!first || !last) {
      error = "not an IPv4 address or range: '" + std::string(item) + "'";
      return std::nullopt;
    }
    if (*last < *first) {
      error = "range ends below its start: '" + std::string(item) + "'";
      return std::nullopt;
    }
    if (static_cast<std::uint64_t>(*last - *first) + 1 + out.size() > max_source_addresses) {
      error = "more than " + std::to_string(max_source_addresses) + " source addresses";
      return std::nullopt;
    }
    for (std::uint64_t a = *first; a <= *last; ++a) out.push_back(make_addr(static_cast<std::uint32_t>(a)));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace shoal::loadgen
