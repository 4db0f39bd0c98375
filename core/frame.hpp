// Frame-level vocabulary shared by the decoder and encoder (RFC 6455 §5.2): opcodes, the
// endpoint role, and header size arithmetic. Pure values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::core {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

constexpr bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

// Which side of the connection we are. A server decodes client frames, which must be masked,
// and encodes unmasked frames; a client does the opposite (§5.1, §5.3).
enum class role : std::uint8_t { server, client };

constexpr std::size_t max_control_payload = 125;  // §5.5
constexpr std::size_t max_frame_header = 14;      // 2 + 8-byte length + 4-byte mask

// Size of a frame header for a payload of `len` bytes, with or without a masking key.
constexpr std::size_t frame_header_size(std::uint64_t len, bool masked) noexcept {
  return 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + (masked ? 4 : 0);
}

}  // namespace shoal::core
