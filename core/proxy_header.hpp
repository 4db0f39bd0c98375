// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a TCP load
// balancer puts before the client's bytes to say whom the connection is really from. Sans-I/O:
// parse_proxy_header() looks at the bytes received so far and says need more, done (with how
// many bytes the header took and the addresses), or which rule they break. Stateless, so any
// split of the input gives the same answer once the header is complete. Safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace shoal::core {

enum class proxy_error : std::uint8_t {
  none = 0,
  not_proxy,           // neither the v1 "PROXY " nor the v2 signature starts the connection
  v1_too_long,         // no CRLF within 107 bytes (spec 2.1)
  v1_bad_protocol,     // not TCP4, TCP6 or UNKNOWN (2.1)
  v1_bad_address,      // an address that is not a literal of the announced family (2.1)
  v1_bad_port,         // a port that is not 0..65535 in decimal without leading zeros (2.1)
  v1_bad_syntax,       // wrong spacing, missing field, or bytes after the last one (2.1)
  v2_bad_version,      // version nibble not 2 (2.2)
  v2_bad_command,      // command not LOCAL or PROXY (2.2)
  v2_bad_family,       // address family or transport not defined (2.2)
  v2_too_short,        // declared length below what the address family needs (2.2)
  v2_too_long,         // declared length over the caller's limit
};

// A one-line reason naming the spec section; static storage, never null.
std::string_view describe(proxy_error err) noexcept;

enum class proxy_family : std::uint8_t {
  unspecified,  // v1 UNKNOWN, v2 UNSPEC or UNIX, or v2 LOCAL: use the socket's own peer address
  ipv4,
  ipv6,
};

struct proxy_header {
  proxy_family family = proxy_family::unspecified;
  bool local = false;  // v2 LOCAL: the balancer's own connection (a health check)
  // Network byte order; ipv4 uses the first 4 bytes.
  std::array<std::uint8_t, 16> source{};
  std::array<std::uint8_t, 16> destination{};
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  std::uint8_t version = 0;  // 1 or 2
};

enum class proxy_status : std::uint8_t { need_more, done, error };

struct proxy_result {
  proxy_status status = proxy_status::need_more;
  std::size_t consumed = 0;  // done: the header's bytes (the client's bytes follow)
  proxy_header header;
  proxy_error error = proxy_error::none;
};

constexpr std::size_t proxy_v1_max = 107;       // spec 2.1, CRLF included
constexpr std::size_t proxy_v2_fixed = 16;      // signature, version/command, family, length
// v2 headers may carry TLVs up to 65535 bytes; a gateway needs none of them, so the caller
// bounds what it will buffer (v2_too_long past it).
constexpr std::size_t proxy_v2_default_max = 1024;

proxy_result parse_proxy_header(std::span<const std::uint8_t> bytes,
                                std::size_t v2_max = proxy_v2_default_max) noexcept;

}  // namespace shoal::core
