// The one table from protocol_error to close code and reason (RFC 6455 §7.4.1). Pure data; safe
// from any thread. Invariant, checked at compile time: one row per enumerator, in enum order, and
// every reason fits a close frame's reason (125 bytes minus the 2-byte code).
#include "core/protocol_error.hpp"

#include <array>
#include <cstddef>

namespace shoal::core {
namespace {

struct error_info {
  protocol_error error;
  close_code code;
  std::string_view reason;
};

constexpr std::array error_table{
    error_info{protocol_error::none, close_code::normal, "no error"},
    error_info{protocol_error::reserved_bits, close_code::protocol_error,
               "RFC 6455 5.2: reserved bits set without a negotiated extension"},
    error_info{protocol_error::reserved_opcode, close_code::protocol_error,
               "RFC 6455 5.2: reserved opcode"},
    error_info{protocol_error::fragmented_control, close_code::protocol_error,
               "RFC 6455 5.5: control frame must not be fragmented"},
    error_info{protocol_error::control_too_long, close_code::protocol_error,
               "RFC 6455 5.5: control frame payload over 125 bytes"},
    error_info{protocol_error::length_top_bit, close_code::protocol_error,
               "RFC 6455 5.2: most significant bit of a 64-bit length must be 0"},
    error_info{protocol_error::non_minimal_length, close_code::protocol_error,
               "RFC 6455 5.2: payload length not in the minimal number of bytes"},
    error_info{protocol_error::unmasked_frame, close_code::protocol_error,
               "RFC 6455 5.1: client frames must be masked"},
    error_info{protocol_error::masked_frame, close_code::protocol_error,
               "RFC 6455 5.1: server frames must not be masked"},
    error_info{protocol_error::unexpected_continuation, close_code::protocol_error,
               "RFC 6455 5.4: continuation frame without a message in progress"},
    error_info{protocol_error::expected_continuation, close_code::protocol_error,
               "RFC 6455 5.4: new data frame inside a fragmented message"},
    error_info{protocol_error::compressed_continuation, close_code::protocol_error,
               "RFC 7692 6: RSV1 set on a continuation frame"},
    error_info{protocol_error::compressed_control, close_code::protocol_error,
               "RFC 7692 6: RSV1 set on a control frame"},
    error_info{protocol_error::message_too_big, close_code::message_too_big,
               "RFC 6455 7.4.1: message exceeds the size limit"},
    error_info{protocol_error::invalid_utf8, close_code::invalid_payload,
               "RFC 6455 8.1: text message is not valid UTF-8"},
    error_info{protocol_error::close_payload_length_one, close_code::protocol_error,
               "RFC 6455 5.5.1: close frame body of 1 byte"},
    error_info{protocol_error::invalid_close_code, close_code::protocol_error,
               "RFC 6455 7.4: close code not allowed on the wire"},
    error_info{protocol_error::invalid_close_reason, close_code::invalid_payload,
               "RFC 6455 5.5.1: close reason is not valid UTF-8"},
    error_info{protocol_error::inflate_failed, close_code::invalid_payload,
               "RFC 7692 6.2: compressed message does not inflate"},
};

constexpr bool table_is_complete() {
  for (std::size_t i = 0; i < error_table.size(); ++i) {
    if (static_cast<std::size_t>(error_table[i].error) != i) return false;
    if (error_table[i].reason.size() > max_close_reason) return false;
  }
  return static_cast<std::size_t>(protocol_error::inflate_failed) + 1 == error_table.size();
}
static_assert(table_is_complete(), "error_table: one row per protocol_error, in order, reason <= 123 B");

}  // namespace

close_code close_code_for(protocol_error err) noexcept {
  const auto i = static_cast<std::size_t>(err);
  return i < error_table.size() ? error_table[i].code : close_code::protocol_error;
}

std::string_view describe(protocol_error err) noexcept {
  const auto i = static_cast<std::size_t>(err);
  return i < error_table.size() ? error_table[i].reason : std::string_view("unknown protocol error");
}

}  // namespace shoal::core
