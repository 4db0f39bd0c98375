// The permessage-deflate decompressor (RFC 7692 §7.2.2): inflates a compressed message fed as
// the chunks of its frames arrive, appends 00 00 ff ff after the last one, and bounds the output
// as it is produced, so a compression bomb stops at the limit having allocated no more than it.
// Without context takeover it resets after every message (and after any error), so one inflater
// per shard and per inflater_settings can serve every connection that agreed
// client_no_context_takeover, provided each message is fed whole, in one call with last = true
// (the gateway buffers a fragmented compressed message first). With context takeover a
// connection owns its own and may feed chunk by chunk. Used by one thread; neither copyable nor
// movable (zlib's state points back at its z_stream). Out of memory in zlib aborts with a message.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/protocol_error.hpp"
#include "core/utf8.hpp"
#include "core/zlib_memory.hpp"

namespace shoal::core {

struct inflater_settings {
  // 8..15: the peer's agreed window. It sizes a context-takeover stream's window; a stream
  // without takeover always runs at 15 (see the constructor: split-independent results).
  std::uint8_t window_bits = 15;
  bool context_takeover = false;  // the peer may refer to earlier messages
  friend bool operator==(const inflater_settings&, const inflater_settings&) = default;
};

enum class inflate_status : std::uint8_t {
  more,          // the chunk is consumed; feed the message's next one
  done,          // the message is complete in `out`
  too_big,       // it inflates past max_size (RFC 6455 §7.4.1: close with 1009)
  invalid,       // not DEFLATE data, or data after a final block (RFC 7692 §6.2: close with 1007)
  invalid_utf8,  // a text message that is not UTF-8 (RFC 6455 §8.1: close with 1007)
};

// The protocol_error to fail the connection with for a failed status (none for more and done).
protocol_error error_for(inflate_status status) noexcept;

class inflater {
 public:
  explicit inflater(const inflater_settings& settings);
  ~inflater();
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;

  // Inflates the next chunk of a compressed message's payload (as the frame decoder delivers it,
  // empty chunks allowed) and appends the output to `out`, which never grows past `max_size`
  // bytes (nor reserves more): a message that would is `too_big` as soon as one byte too many
  // comes out. `last` marks the message's final chunk. `text`, if not null, validates the output
  // as UTF-8 as it comes (the caller resets it per message). After too_big or an invalid status
  // the message is abandoned and the inflater reset; the connection is to be closed.
  inflate_status feed(std::span<const std::uint8_t> chunk, bool last, std::vector<std::uint8_t>& out,
                      std::size_t max_size, utf8_validator* text = nullptr);

  // Drops a message in progress (its connection went away): a shared inflater is clean again.
  void abandon() noexcept;
  // True between messages.
  bool idle() const noexcept { return !in_message_; }

  const inflater_settings& settings() const noexcept { return settings_; }
  // Bytes zlib holds for this stream now / at most so far (the z_stream itself aside). The
  // window (1 << window_bits) is allocated on the first message, so measure after one.
  std::size_t memory_bytes() const noexcept { return memory_.bytes; }
  std::size_t peak_memory_bytes() const noexcept { return memory_.peak; }

 private:
  inflate_status run(std::span<const std::uint8_t> input, std::vector<std::uint8_t>& out,
                     std::size_t& len, std::size_t max_size, utf8_validator* text);
  inflate_status step(std::vector<std::uint8_t>& out, std::size_t& len, std::size_t max_size,
                      utf8_validator* text);
  inflate_status finish(utf8_validator* text);
  inflate_status fail(inflate_status status) noexcept;
  void end_message() noexcept;

  inflater_settings settings_;
  zlib_memory memory_;
  z_stream stream_{};
  bool in_message_ = false;
  bool stream_ended_ = false;  // the message held a final block (BFINAL); only the tail may follow
};

}  // namespace shoal::core
