// WebSocket frame encoder (RFC 6455 §5.2) for both roles: a server writes unmasked frames, a
// client masks every frame with a fresh key from a cryptographically strong source (§5.3).
// Header encoding is a free function so a broadcast can encode one frame once for every
// subscriber. A frame_encoder (client role) holds a batch of random keys; one per connection or
// per thread, never shared between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/close_code.hpp"
#include "core/frame.hpp"
#include "core/unmask.hpp"

namespace shoal::core {

// Writes the header of a frame carrying `payload_len` bytes into `out` (at least
// max_frame_header bytes of room) and returns its length. `key` non-null adds the mask bit and
// the key. Lengths use the minimal encoding.
std::size_t encode_frame_header(std::uint8_t* out, opcode op, std::uint64_t payload_len, bool fin,
                                bool rsv1, const mask_key* key) noexcept;

// Writes a close frame's body (code in network order, then the reason truncated to
// max_close_reason bytes at a UTF-8 character boundary) into `out` (125 bytes of room); returns
// its length. A code that must not be sent (1005, 1006, 1015, anything invalid on the wire)
// yields an empty body, which the peer reads as 1005 "no status" (§7.4.1).
std::size_t encode_close_body(std::uint8_t* out, close_code code, std::string_view reason) noexcept;

class frame_encoder {
 public:
  explicit frame_encoder(role local_role) noexcept : role_(local_role) {}

  // Appends one whole frame to `out`: header, then the payload (masked for a client, in `out`;
  // the caller's payload is left as it is). May allocate (it grows `out`).
  void append_frame(std::vector<std::uint8_t>& out, opcode op, std::span<const std::uint8_t> payload,
                    bool fin = true, bool rsv1 = false);
  // Appends a close frame with `code` and `reason`.
  void append_close(std::vector<std::uint8_t>& out, close_code code, std::string_view reason = {});

  // A fresh masking key (client role): from OpenSSL's RAND_bytes, fetched in batches.
  mask_key next_key();

 private:
  role role_;
  static constexpr std::size_t key_batch = 64;
  std::array<mask_key, key_batch> keys_{};  // filled by one RAND_bytes call
  std::size_t next_key_ = key_batch;        // index of the next unused key
  static_assert(sizeof(std::array<mask_key, key_batch>) == key_batch * sizeof(mask_key));
};

}  // namespace shoal::core
