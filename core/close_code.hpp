// WebSocket close status codes (RFC 6455 §7.4) in one table: the named codes, which may appear
// on the wire, and a one-line meaning for each. Pure data and functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shoal::core {

enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  no_status = 1005,        // never sent on the wire (§7.4.1)
  abnormal = 1006,         // never sent on the wire (§7.4.1)
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  mandatory_extension = 1010,
  internal_error = 1011,
  service_restart = 1012,  // IANA registry, not in RFC 6455's text
  try_again_later = 1013,  // IANA registry
  bad_gateway = 1014,      // IANA registry
  tls_handshake = 1015,    // never sent on the wire (§7.4.1)
};

// Longest close reason: a control payload's 125 bytes minus the 2-byte code (§5.5, §5.5.1).
constexpr std::size_t max_close_reason = 123;

// True if `code` may appear in a Close frame received from a peer (§7.4.1, §7.4.2): the codes
// defined for use on the wire in 1000..2999 (1000-1003, 1007-1014) and every code in 3000..4999.
// 0-999, 1004-1006, 1015, other values of 1000..2999 and 5000+ are invalid (1002 in reply).
bool is_valid_wire_close_code(std::uint16_t code) noexcept;

// A short meaning for a named code ("normal closure", "going away", ...); "unknown" otherwise.
std::string_view describe(close_code code) noexcept;

}  // namespace shoal::core
