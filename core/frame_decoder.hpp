// Streaming WebSocket frame decoder (RFC 6455 §5), sans I/O: bytes in, events out.
// Feed it whatever bytes have arrived; it returns one event per call and how many bytes it
// consumed. Any split of the input gives the same data bytes, message boundaries, control frames
// and errors. Payloads are unmasked in place (the caller's buffer is mutable for that reason) and
// text is UTF-8 validated as it arrives, so an invalid byte fails the message at once.
// Limits are checked from the header, before any byte of payload is accepted; the decoder never
// allocates (headers and control frames split across reads are gathered in fixed buffers).
// A frame_decoder belongs to one connection and is used by one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/frame.hpp"
#include "core/protocol_error.hpp"
#include "core/unmask.hpp"
#include "core/utf8.hpp"

namespace shoal::core {

struct decoder_options {
  role local_role = role::server;              // server: incoming frames must be masked
  // Bytes per message, summed over fragments (1009). For a compressed message these are the
  // compressed bytes; the inflater bounds what they inflate to.
  std::uint64_t max_message_size = 16u << 20;
  bool rsv1_allowed = false;                   // true once permessage-deflate is negotiated
};

enum class decode_status : std::uint8_t {
  need_more,  // every byte of the input was consumed (consumed == input.size()); feed more
  data,       // a chunk of a text or binary message (possibly empty)
  control,    // one whole control frame: close, ping or pong
  error,      // a protocol violation; the connection must be closed with close_code_for(error)
};

// One decoder result. Kept to 32 bytes: it is returned once per frame on the hot path.
struct decode_event {
  // data: unmasked bytes inside the caller's input; control: the whole unmasked payload (in the
  // input, or in the decoder's own buffer). Valid until the next call to next() or until the
  // input buffer is reused.
  std::span<const std::uint8_t> payload;
  std::size_t consumed = 0;  // bytes of the input consumed by this call (also on error)
  decode_status status = decode_status::need_more;
  opcode op = opcode::continuation;  // data: the message's opcode (text or binary); control: its own
  bool first = false;        // data: first chunk of a message
  bool last = false;         // data: last chunk of a message (its FIN frame is complete)
  bool compressed = false;   // data: the message's first frame had RSV1 (permessage-deflate)
  protocol_error error = protocol_error::none;  // error: what the peer broke
};
static_assert(sizeof(decode_event) <= 32, "decode_event is returned per frame; keep it small");

class frame_decoder {
 public:
  explicit frame_decoder(decoder_options options = {}) noexcept : options_(options) {}

  // Decodes from the start of `input` and returns one event.
  // Data: every data frame yields at least one data event, empty frames included (one event with
  // an empty payload), so an empty message yields one event with first == last == true and an
  // empty non-final fragment yields one empty event too. A non-empty frame yields one event per
  // chunk of its payload that arrives, never an empty one. `first` marks the message's first
  // event and `last` its final one; chunking varies with the split of the input, bytes do not.
  // Control: one event per frame, after its whole payload arrived; close payloads are already
  // checked (length, code and UTF-8 reason). Control frames may come between fragments.
  // Text payloads are UTF-8 validated unless the message is compressed (validate after inflate);
  // a chunk holding an invalid byte, or a message ending inside a sequence, is an error.
  // Error: `consumed` counts the bytes up to the offending header or chunk. The decoder stays
  // failed: later calls return the same error and consume nothing.
  decode_event next(std::span<std::uint8_t> input) noexcept;

  void set_rsv1_allowed(bool allowed) noexcept { options_.rsv1_allowed = allowed; }
  bool failed() const noexcept { return state_ == state::failed; }
  protocol_error error() const noexcept { return failed_; }
  // True when no frame or fragmented message is in progress (a clean place to stop reading).
  bool idle() const noexcept {
    return state_ == state::header && header_len_ == 0 && !in_message_;
  }

 private:
  enum class state : std::uint8_t {
    header,           // at a frame boundary, or gathering a header split across reads
    payload,          // inside a data frame's payload; remaining_ bytes to come
    control_payload,  // gathering a control frame's payload into control_
    failed,           // a protocol error was returned; failed_ says which
  };

  protocol_error check_first_bytes(std::uint8_t b0, std::uint8_t b1) const noexcept;
  protocol_error parse_header(const std::uint8_t* h) noexcept;
  decode_event gather_header(std::uint8_t* input, std::size_t size) noexcept;
  decode_event start_frame(std::uint8_t* input, std::size_t size, std::size_t pos) noexcept;
  decode_event data_chunk(std::uint8_t* input, std::size_t size, std::size_t pos) noexcept;
  decode_event gather_control(std::uint8_t* input, std::size_t size, std::size_t pos) noexcept;
  decode_event finish_control(const std::uint8_t* payload, std::size_t n,
                              std::size_t consumed) noexcept;
  decode_event fail(protocol_error err, std::size_t consumed) noexcept;
  bool masked() const noexcept { return options_.local_role == role::server; }

  decoder_options options_;
  state state_ = state::header;
  protocol_error failed_ = protocol_error::none;
  // Current frame.
  opcode frame_op_ = opcode::continuation;
  bool frame_fin_ = false;
  bool frame_rsv1_ = false;
  std::uint8_t header_len_ = 0;  // bytes of a split header gathered in header_
  std::uint8_t control_len_ = 0;  // bytes of a split control payload gathered in control_
  unsigned phase_ = 0;           // masking phase of the next payload byte
  mask_key key_{};
  std::uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  // Current (possibly fragmented) data message.
  bool in_message_ = false;
  bool message_first_pending_ = false;  // the next data event is the first of its message
  bool message_compressed_ = false;
  bool validate_utf8_ = false;          // text and not compressed
  opcode message_op_ = opcode::continuation;
  std::uint64_t message_size_ = 0;      // payload bytes announced so far, over all fragments
  utf8_validator utf8_;
  std::array<std::uint8_t, max_frame_header> header_{};      // a header split across reads
  std::array<std::uint8_t, max_control_payload> control_{};  // a control payload split across reads
};

// A received close frame's body, parsed (§5.5.1). The payload must already have passed the
// decoder's checks.
struct close_body {
  std::uint16_t code = static_cast<std::uint16_t>(close_code::no_status);  // 1005 if empty
  std::span<const std::uint8_t> reason;
};
close_body parse_close_body(std::span<const std::uint8_t> payload) noexcept;

}  // namespace shoal::core
