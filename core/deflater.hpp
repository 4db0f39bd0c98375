// The permessage-deflate compressor (RFC 7692 §7.2.1): compresses one whole message, given whole
// or as consecutive chunks, into a caller buffer as raw DEFLATE ending in a sync flush, with the
// final 00 00 ff ff stripped. Without context takeover it resets after every message, so its
// output depends only on the message: one deflater per shard and per deflater_settings can
// compress a broadcast once for every connection that agreed server_no_context_takeover with
// those settings (the same bytes are valid for all of them). With context takeover a connection
// owns its own. A deflater is used by one thread; it is neither copyable nor movable (zlib's
// state points back at its z_stream). Out of memory in zlib aborts with a message.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/frame.hpp"
#include "core/unmask.hpp"
#include "core/zlib_memory.hpp"

namespace shoal::core {

struct deflater_settings {
  // 8..15, the LZ77 window. zlib refuses a raw window of 8, so 8 runs as 9: zlib never emits a
  // distance above window - 262 = 250 bytes then, which a 256-byte window holds.
  std::uint8_t window_bits = 15;
  std::uint8_t mem_level = 8;          // 1..9: zlib memLevel (hash table and symbol buffer size)
  std::uint8_t compression_level = 6;  // 0..9
  bool context_takeover = false;       // keep the window from one message to the next
  friend bool operator==(const deflater_settings&, const deflater_settings&) = default;
};

class deflater {
 public:
  explicit deflater(const deflater_settings& settings);
  ~deflater();
  deflater(const deflater&) = delete;
  deflater& operator=(const deflater&) = delete;

  // Room that always suffices for a message of `n` bytes, tail included before it is stripped:
  // zlib's conservative bound for any window and memLevel, plus a sync flush and margin.
  static constexpr std::size_t max_compressed_size(std::size_t n) noexcept {
    return n + (n >> 3) + (n >> 6) + 64;
  }

  // Compresses the concatenation of `chunks` as one message into `out` and returns the
  // compressed payload's size (an empty message gives the single byte 00, RFC 7692 §7.2.3.6).
  // nullopt if `out` was too small (never when it holds max_compressed_size of the total): the
  // compressor is then reset, which is safe even with context takeover (the next message just
  // refers to nothing before it), and nothing written to `out` may be sent.
  std::optional<std::size_t> compress(std::span<const std::span<const std::uint8_t>> chunks,
                                      std::span<std::uint8_t> out) noexcept;
  std::optional<std::size_t> compress(std::span<const std::uint8_t> message,
                                      std::span<std::uint8_t> out) noexcept;

  const deflater_settings& settings() const noexcept { return settings_; }
  // Bytes zlib holds for this stream now / at most so far (the z_stream itself aside).
  std::size_t memory_bytes() const noexcept { return memory_.bytes; }
  std::size_t peak_memory_bytes() const noexcept { return memory_.peak; }

 private:
  bool feed(std::span<const std::uint8_t> chunk) noexcept;
  static std::optional<std::size_t> compress_empty(std::span<std::uint8_t> out) noexcept;
  std::optional<std::size_t> fail() noexcept;

  deflater_settings settings_;
  zlib_memory memory_;
  z_stream stream_{};
};

// Room for a compressed frame of a message of `n` bytes (see encode_compressed_frame).
constexpr std::size_t compressed_frame_capacity(std::size_t n) noexcept {
  return max_frame_header + deflater::max_compressed_size(n);
}

// Compresses `chunks` as one message and frames it as a single FIN frame with RSV1 set (RFC 7692
// §6) in `out`: returns the whole frame (header + compressed payload, masked with `key` if not
// null) as a subspan of `out`, which may start a few bytes in. nullopt if `out` is too small
// (never with compressed_frame_capacity of the total). A broadcast calls it once and shares the
// bytes with every subscriber whose connection uses these deflater settings.
std::optional<std::span<std::uint8_t>> encode_compressed_frame(
    deflater& compressor, opcode op, std::span<const std::span<const std::uint8_t>> chunks,
    const mask_key* key, std::span<std::uint8_t> out) noexcept;

}  // namespace shoal::core
