// The close code table (RFC 6455 §7.4): which codes may be received on the wire and a one-line
// meaning for each named code. Pure data; safe from any thread.
// Invariant: close_table lists every enumerator of close_code exactly once, in ascending order.
#include "core/close_code.hpp"

#include <array>

namespace shoal::core {
namespace {

struct close_code_info {
  close_code code;
  bool on_wire;  // may appear in a Close frame (§7.4.1: 1005, 1006 and 1015 never do)
  std::string_view meaning;
};

constexpr std::array close_table{
    close_code_info{close_code::normal, true, "normal closure"},
    close_code_info{close_code::going_away, true, "going away"},
    close_code_info{close_code::protocol_error, true, "protocol error"},
    close_code_info{close_code::unsupported_data, true, "unsupported data"},
    close_code_info{close_code::no_status, false, "no status received"},
    close_code_info{close_code::abnormal, false, "abnormal closure"},
    close_code_info{close_code::invalid_payload, true, "invalid frame payload data"},
    close_code_info{close_code::policy_violation, true, "policy violation"},
    close_code_info{close_code::message_too_big, true, "message too big"},
    close_code_info{close_code::mandatory_extension, true, "mandatory extension"},
    close_code_info{close_code::internal_error, true, "internal server error"},
    close_code_info{close_code::service_restart, true, "service restart"},
    close_code_info{close_code::try_again_later, true, "try again later"},
    close_code_info{close_code::bad_gateway, true, "bad gateway"},
    close_code_info{close_code::tls_handshake, false, "TLS handshake failure"},
};

constexpr bool table_is_sorted() {
  for (std::size_t i = 1; i < close_table.size(); ++i) {
    if (close_table[i - 1].code >= close_table[i].code) return false;
  }
  return true;
}
static_assert(table_is_sorted(), "close_table must be sorted and free of duplicates");

constexpr const close_code_info* find(std::uint16_t code) {
  for (const auto& info : close_table) {
    if (static_cast<std::uint16_t>(info.code) == code) return &info;
  }
  return nullptr;
}

}  // namespace

bool is_valid_wire_close_code(std::uint16_t code) noexcept {
  // §7.4.2: 0-999 are unused, 1000-2999 are reserved for the protocol (only the registered,
  // sendable ones are valid), 3000-3999 are registered with IANA and 4000-4999 are private.
  if (code >= 3000 && code <= 4999) return true;
  const close_code_info* info = find(code);
  return info != nullptr && info->on_wire;
}

std::string_view describe(close_code code) noexcept {
  const close_code_info* info = find(static_cast<std::uint16_t>(code));
  return info != nullptr ? info->meaning : std::string_view("unknown");
}

}  // namespace shoal::core
