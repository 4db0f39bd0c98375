// The permessage-deflate compressor (see deflater.hpp): zlib raw deflate, Z_NO_FLUSH per chunk
// and one Z_SYNC_FLUSH per message, whose 00 00 ff ff tail is cut (RFC 7692 §7.2.1).
// Invariant between messages: the stream is byte-aligned after a sync flush (or freshly reset),
// so each message starts a new block. Used by one thread.
#include "core/deflater.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/frame_encoder.hpp"

namespace shoal::core {
namespace {

constexpr std::uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};
// zlib counts in unsigned int; larger inputs are fed in slices of this size.
constexpr std::size_t max_slice = 1u << 30;

[[noreturn]] void zlib_broken(const char* what, int code) {
  std::fprintf(stderr, "shoal: zlib %s failed (%d)\n", what, code);
  std::abort();
}

}  // namespace

deflater::deflater(const deflater_settings& settings) : settings_(settings) {
  stream_.zalloc = zlib_alloc;
  stream_.zfree = zlib_free;
  stream_.opaque = &memory_;
  // Negative window bits: raw DEFLATE, no zlib header or checksum (RFC 7692 §7.2.1).
  const int bits = std::clamp<int>(settings.window_bits, 9, 15);
  const int level = std::min<int>(settings.compression_level, 9);
  const int mem_level = std::clamp<int>(settings.mem_level, 1, 9);
  const int rc = deflateInit2(&stream_, level, Z_DEFLATED, -bits, mem_level, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) zlib_broken("deflateInit2", rc);
}

deflater::~deflater() { deflateEnd(&stream_); }

std::optional<std::size_t> deflater::fail() noexcept {
  deflateReset(&stream_);
  return std::nullopt;
}

// Compresses one chunk with Z_NO_FLUSH; false if the output ran out first.
bool deflater::feed(std::span<const std::uint8_t> chunk) noexcept {
  while (!chunk.empty()) {
    const std::size_t slice = std::min(chunk.size(), max_slice);
    stream_.next_in = const_cast<Bytef*>(chunk.data());  // zlib's API is not const-correct
    stream_.avail_in = static_cast<uInt>(slice);
    while (stream_.avail_in != 0) {
      if (stream_.avail_out == 0) return false;
      deflate(&stream_, Z_NO_FLUSH);  // Z_OK, or Z_BUF_ERROR when no progress was possible
    }
    chunk = chunk.subspan(slice);
  }
  return true;
}

std::optional<std::size_t> deflater::compress(std::span<const std::span<const std::uint8_t>> chunks,
                                              std::span<std::uint8_t> out) noexcept {
  std::size_t total = 0;
  for (std::span<const std::uint8_t> chunk : chunks) total += chunk.size();
  if (total == 0) return compress_empty(out);
  stream_.next_out = out.data();
  stream_.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size(), UINT_MAX));
  for (std::span<const std::uint8_t> chunk : chunks) {
    if (!feed(chunk)) return fail();
  }
  stream_.next_in = nullptr;
  stream_.avail_in = 0;
  // One call completes the flush unless the output fills up (zlib's rule for Z_SYNC_FLUSH).
  if (stream_.avail_out == 0) return fail();
  deflate(&stream_, Z_SYNC_FLUSH);
  if (stream_.avail_out == 0) return fail();
  const std::size_t written = static_cast<std::size_t>(stream_.next_out - out.data());
  // A sync flush ends in an empty stored block, 00 00 ff ff on the wire; RFC 7692 §7.2.1 cuts it.
  if (written < 5 || std::memcmp(out.data() + written - 4, sync_tail, 4) != 0) {
    zlib_broken("sync flush (no 00 00 ff ff tail)", Z_STREAM_ERROR);
  }
  if (!settings_.context_takeover) deflateReset(&stream_);
  return written - 4;
}

// RFC 7692 §7.2.3.6: an empty message is the single byte 00 (an empty stored block, completed by
// the receiver's 00 00 ff ff). Written directly: a sync flush without new input would emit nothing
// after a previous flush. The stream is untouched, still byte-aligned between blocks.
std::optional<std::size_t> deflater::compress_empty(std::span<std::uint8_t> out) noexcept {
  if (out.empty()) return std::nullopt;
  out[0] = 0x00;
  return 1;
}

std::optional<std::size_t> deflater::compress(std::span<const std::uint8_t> message,
                                              std::span<std::uint8_t> out) noexcept {
  return compress(std::span<const std::span<const std::uint8_t>>(&message, 1), out);
}

std::optional<std::span<std::uint8_t>> encode_compressed_frame(
    deflater& compressor, opcode op, std::span<const std::span<const std::uint8_t>> chunks,
    const mask_key* key, std::span<std::uint8_t> out) noexcept {
  if (out.size() <= max_frame_header) return std::nullopt;
  const std::optional<std::size_t> size = compressor.compress(chunks, out.subspan(max_frame_header));
  if (!size) return std::nullopt;
  // The header goes right before the payload, wherever its minimal length puts it.
  const std::size_t header = frame_header_size(*size, key != nullptr);
  const std::size_t start = max_frame_header - header;
  encode_frame_header(out.data() + start, op, *size, true, true, key);
  if (key != nullptr && *size != 0) unmask(out.data() + max_frame_header, *size, *key, 0);
  return out.subspan(start, header + *size);
}

}  // namespace shoal::core
