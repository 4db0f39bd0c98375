// Every way a peer can break RFC 6455 framing, as one fine-grained enum, with the one table that
// maps each to the close code to send and to a one-line reason naming the RFC clause.
// Pure data and functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/close_code.hpp"

namespace shoal::core {

enum class protocol_error : std::uint8_t {
  none = 0,
  reserved_bits,              // RSV1-3 set without a negotiated extension (§5.2)
  reserved_opcode,            // opcodes 0x3-0x7, 0xB-0xF (§5.2)
  fragmented_control,         // control frame without FIN (§5.5)
  control_too_long,           // control payload over 125 bytes (§5.5)
  length_top_bit,             // 64-bit length with its most significant bit set (§5.2)
  non_minimal_length,         // length not encoded in the minimal number of bytes (§5.2)
  unmasked_frame,             // a server received an unmasked frame (§5.1)
  masked_frame,               // a client received a masked frame (§5.1)
  unexpected_continuation,    // continuation frame with no message in progress (§5.4)
  expected_continuation,      // new text/binary frame inside a fragmented message (§5.4)
  compressed_continuation,    // RSV1 on a continuation frame (RFC 7692 §6)
  compressed_control,         // RSV1 on a control frame (RFC 7692 §6)
  message_too_big,            // message over the configured limit (§7.4.1, 1009)
  invalid_utf8,               // text message payload is not UTF-8 (§8.1, 1007)
  close_payload_length_one,   // close frame with a 1-byte body (§5.5.1)
  invalid_close_code,         // close code not allowed on the wire (§7.4)
  invalid_close_reason,       // close reason is not UTF-8 (§5.5.1, 1007)
  inflate_failed,             // permessage-deflate data does not inflate (RFC 7692 §6.2, 1007)
};

// The close code to send when closing for `err` (§7.4.1).
close_code close_code_for(protocol_error err) noexcept;

// A one-line reason for logs and close frames, naming the RFC clause; at most max_close_reason
// (123) bytes so it fits in a close frame's reason. Static storage; never null.
std::string_view describe(protocol_error err) noexcept;

}  // namespace shoal::core
