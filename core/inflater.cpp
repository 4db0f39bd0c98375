// The permessage-deflate decompressor (see inflater.hpp). zlib raw inflate writes straight into
// the caller's vector, which grows by doubling up to max_size and no further; once full, a
// one-byte probe tells whether the message goes on (too_big) or ends there. Invariant between
// messages: the stream waits at a block boundary (mode TYPE), or was reset.
// Used by one thread.
#include "core/inflater.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace shoal::core {
namespace {

// RFC 7692 §7.2.2: the receiver appends what the sender cut from its sync flush.
constexpr std::uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};
constexpr std::size_t max_slice = 1u << 30;  // zlib counts in unsigned int
constexpr std::size_t min_growth = 1024;

// zlib sets data_type's bit 128 when inflate stopped at a block boundary (zlib.h, inflate()).
constexpr int at_block_boundary = 128;

[[noreturn]] void zlib_broken(const char* what, int code) {
  std::fprintf(stderr, "shoal: zlib %s failed (%d)\n", what, code);
  std::abort();
}

}  // namespace

protocol_error error_for(inflate_status status) noexcept {
  switch (status) {
    case inflate_status::more:
    case inflate_status::done: return protocol_error::none;
    case inflate_status::too_big: return protocol_error::message_too_big;
    case inflate_status::invalid: return protocol_error::inflate_failed;
    case inflate_status::invalid_utf8: return protocol_error::invalid_utf8;
  }
  return protocol_error::inflate_failed;
}

inflater::inflater(const inflater_settings& settings) : settings_(settings) {
  stream_.zalloc = zlib_alloc;
  stream_.zfree = zlib_free;
  stream_.opaque = &memory_;
  // Without context takeover the stream runs with the largest window whatever was agreed. zlib
  // (built without INFLATE_STRICT) checks a distance against the bytes it can reach, not the
  // declared window: in its fast path that includes everything already written to the output
  // buffer, in its slow path only the window. So a peer that breaks its agreed window would be
  // accepted or refused depending on how its message was split (found by inflate_fuzz). With a
  // 32 KiB window both paths reach every distance DEFLATE can encode, so the outcome depends on
  // the message alone; the cost is one 32 KiB window per shared inflater, per shard. With
  // context takeover the agreed window bounds the connection's memory, which matters more; a
  // peer that breaks it may then see either outcome.
  const int bits = settings.context_takeover ? std::clamp<int>(settings.window_bits, 8, 15) : 15;
  const int rc = inflateInit2(&stream_, -bits);  // negative: raw DEFLATE (RFC 7692 §7.2.2)
  if (rc != Z_OK) zlib_broken("inflateInit2", rc);
}

inflater::~inflater() { inflateEnd(&stream_); }

inflate_status inflater::feed(std::span<const std::uint8_t> chunk, bool last,
                              std::vector<std::uint8_t>& out, std::size_t max_size,
                              utf8_validator* text) {
  in_message_ = true;
  std::size_t len = out.size();  // bytes of real output; out may be longer while zlib writes
  inflate_status status = len > max_size ? inflate_status::too_big : inflate_status::more;
  if (status == inflate_status::more) status = run(chunk, out, len, max_size, text);
  if (status == inflate_status::more && last && !stream_ended_) {
    status = run(sync_tail, out, len, max_size, text);
  }
  out.resize(len);
  if (status != inflate_status::more) return fail(status);
  return last ? finish(text) : inflate_status::more;
}

// Inflates all of `input`, slice by slice.
inflate_status inflater::run(std::span<const std::uint8_t> input, std::vector<std::uint8_t>& out,
                             std::size_t& len, std::size_t max_size, utf8_validator* text) {
  while (!input.empty()) {
    // RFC 7692 §7.2.2 inflates the message as one stream: nothing may follow its final block.
    if (stream_ended_) return inflate_status::invalid;
    const std::size_t slice = std::min(input.size(), max_slice);
    stream_.next_in = const_cast<Bytef*>(input.data());  // zlib's API is not const-correct
    stream_.avail_in = static_cast<uInt>(slice);
    const inflate_status status = step(out, len, max_size, text);
    if (status != inflate_status::more) return status;
    input = input.subspan(slice - stream_.avail_in);
  }
  return inflate_status::more;
}

// Calls inflate until it has taken all the input it can (it stops with output room left).
inflate_status inflater::step(std::vector<std::uint8_t>& out, std::size_t& len,
                              std::size_t max_size, utf8_validator* text) {
  while (true) {
    std::uint8_t probe = 0;
    const bool probing = len == out.size() && len >= max_size;
    if (probing) {
      // At the limit: room for one byte only, to learn whether more output is coming.
      stream_.next_out = &probe;
      stream_.avail_out = 1;
    } else {
      if (len == out.size()) {
        // reserve first: resize alone may round the capacity up past max_size.
        const std::size_t grown = std::min(max_size, std::max(len * 2, len + min_growth));
        out.reserve(grown);
        out.resize(grown);
      }
      stream_.next_out = out.data() + len;
      stream_.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - len, UINT_MAX));
    }
    const uInt room = stream_.avail_out;
    const int rc = inflate(&stream_, Z_SYNC_FLUSH);
    const std::size_t produced = room - stream_.avail_out;
    if (probing && produced != 0) return inflate_status::too_big;
    if (!probing && produced != 0) {
      if (text != nullptr && !text->feed(out.data() + len, produced)) {
        return inflate_status::invalid_utf8;
      }
      len += produced;
    }
    if (rc == Z_STREAM_END) {
      stream_ended_ = true;
      return stream_.avail_in == 0 ? inflate_status::more : inflate_status::invalid;
    }
    if (rc == Z_MEM_ERROR) zlib_broken("inflate", rc);
    if (rc != Z_OK && rc != Z_BUF_ERROR) return inflate_status::invalid;  // Z_DATA_ERROR
    if (stream_.avail_out != 0) return inflate_status::more;
  }
}

// The whole message and its tail are in: it must end at a block boundary (after the empty
// stored block the tail completes) or after a final block.
inflate_status inflater::finish(utf8_validator* text) {
  if (!stream_ended_ && (stream_.data_type & at_block_boundary) == 0) {
    return fail(inflate_status::invalid);
  }
  if (text != nullptr && !text->complete()) return fail(inflate_status::invalid_utf8);
  end_message();
  return inflate_status::done;
}

void inflater::end_message() noexcept {
  in_message_ = false;
  if (!settings_.context_takeover) {
    inflateReset(&stream_);
  } else if (stream_ended_) {
    // A final block ended the stream; the next message may still refer to this one's bytes
    // (context takeover), so carry the window over into a fresh stream. Rare: senders end
    // messages with a sync flush, not a final block.
    auto window = std::make_unique<Bytef[]>(std::size_t{1} << 15);
    uInt size = 0;
    inflateGetDictionary(&stream_, window.get(), &size);
    inflateReset(&stream_);
    if (size != 0) inflateSetDictionary(&stream_, window.get(), size);
  }
  stream_ended_ = false;
}

inflate_status inflater::fail(inflate_status status) noexcept {
  abandon();
  return status;
}

void inflater::abandon() noexcept {
  inflateReset(&stream_);
  in_message_ = false;
  stream_ended_ = false;
}

}  // namespace shoal::core
