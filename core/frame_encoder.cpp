// Frame encoding (see frame_encoder.hpp): header bytes, close bodies, and whole frames for both
// roles. Free functions are pure; a frame_encoder holds its own batch of masking keys and is used
// by one thread. Invariant: every length is written in its minimal encoding (§5.2).
#include "core/frame_encoder.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shoal::core {

std::size_t encode_frame_header(std::uint8_t* out, opcode op, std::uint64_t payload_len, bool fin,
                                bool rsv1, const mask_key* key) noexcept {
  out[0] = static_cast<std::uint8_t>((fin ? 0x80u : 0u) | (rsv1 ? 0x40u : 0u) |
                                     static_cast<unsigned>(op));
  const std::uint8_t mask_bit = key != nullptr ? 0x80u : 0u;
  std::size_t pos;
  if (payload_len < 126) {
    out[1] = static_cast<std::uint8_t>(mask_bit | payload_len);
    pos = 2;
  } else if (payload_len <= 0xffff) {
    out[1] = static_cast<std::uint8_t>(mask_bit | 126u);
    out[2] = static_cast<std::uint8_t>(payload_len >> 8);
    out[3] = static_cast<std::uint8_t>(payload_len);
    pos = 4;
  } else {
    out[1] = static_cast<std::uint8_t>(mask_bit | 127u);
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(payload_len >> (56 - 8 * i));
    pos = 10;
  }
  if (key != nullptr) {
    std::memcpy(out + pos, key->data(), 4);
    pos += 4;
  }
  return pos;
}

std::size_t encode_close_body(std::uint8_t* out, close_code code, std::string_view reason) noexcept {
  const auto value = static_cast<std::uint16_t>(code);
  // §7.4.1: 1005, 1006 and 1015 must not be sent; an empty body says "no status" instead.
  if (!is_valid_wire_close_code(value)) return 0;
  out[0] = static_cast<std::uint8_t>(value >> 8);
  out[1] = static_cast<std::uint8_t>(value);
  std::size_t n = std::min(reason.size(), max_close_reason);
  // Cut before a continuation byte would split a character: back up to a lead byte.
  if (n < reason.size()) {
    while (n > 0 && (static_cast<std::uint8_t>(reason[n]) & 0xc0u) == 0x80u) --n;
  }
  if (n != 0) std::memcpy(out + 2, reason.data(), n);
  return 2 + n;
}

void frame_encoder::append_frame(std::vector<std::uint8_t>& out, opcode op,
                                 std::span<const std::uint8_t> payload, bool fin, bool rsv1) {
  const bool masked = role_ == role::client;
  const mask_key key = masked ? next_key() : mask_key{};
  std::array<std::uint8_t, max_frame_header> header;
  const std::size_t header_len =
      encode_frame_header(header.data(), op, payload.size(), fin, rsv1, masked ? &key : nullptr);
  const std::size_t body = out.size() + header_len;
  out.insert(out.end(), header.begin(), header.begin() + static_cast<std::ptrdiff_t>(header_len));
  out.insert(out.end(), payload.begin(), payload.end());
  if (masked && !payload.empty()) unmask(out.data() + body, payload.size(), key, 0);
}

void frame_encoder::append_close(std::vector<std::uint8_t>& out, close_code code,
                                 std::string_view reason) {
  std::array<std::uint8_t, max_control_payload> body;
  const std::size_t n = encode_close_body(body.data(), code, reason);
  append_frame(out, opcode::close, std::span<const std::uint8_t>(body.data(), n));
}

mask_key frame_encoder::next_key() {
  if (next_key_ == keys_.size()) {
    // §5.3: keys must be unpredictable; a failing CSPRNG is a broken invariant, not an error to
    // carry on from.
    if (RAND_bytes(keys_.data()->data(), static_cast<int>(sizeof(keys_))) != 1) {
      std::fputs("shoal: RAND_bytes failed; cannot make masking keys\n", stderr);
      std::abort();
    }
    next_key_ = 0;
  }
  return keys_[next_key_++];
}

}  // namespace shoal::core
