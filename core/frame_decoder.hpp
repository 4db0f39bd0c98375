// Streaming WebSocket frame decoder (RFC 6455 §5), sans I/O: bytes in, events out.
// Feed it whatever bytes have arrived; it returns one event per call and how many bytes it
// consumed. Any split of the input gives the same sequence of data bytes, control frames and
// errors. Payloads are unmasked in place (the caller's buffer is mutable for that reason) and
// text is UTF-8 validated as it arrives, so an invalid byte fails the message at once.
// Limits are checked from the header, before any byte of payload is accepted; the decoder never
// allocates (control frames split across reads are gathered in a fixed 125-byte buffer).
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
  role local_role = role::server;         // server: incoming frames must be masked
  std::uint64_t max_message_size = 16u << 20;  // bytes per message, summed over fragments (1009)
  bool rsv1_allowed = false;              // true once permessage-deflate is negotiated
};

enum class decode_status : std::uint8_t {
  need_more,  // every byte of the input was consumed; feed more
  data,       // a chunk of a text or binary message (possibly empty)
  control,    // one whole control frame: close, ping or pong
  error,      // a protocol violation; the connection must be closed with close_code_for(error)
};

struct decode_event {
  decode_status status = decode_status::need_more;
  std::size_t consumed = 0;  // bytes of the input consumed by this call (also on error)
  opcode op = opcode::continuation;  // data: text or binary (the message's opcode); control: its opcode
  bool first = false;        // data: first chunk of a message
  bool last = false;         // data: last chunk of a message (its FIN frame is complete)
  bool compressed = false;   // data: the message's first frame had RSV1 (permessage-deflate)
  // data: unmasked bytes inside the caller's input; control: the whole unmasked payload (in the
  // input, or in the decoder's own buffer). Valid until the next call to next() or the input
  // buffer is reused.
  std::span<const std::uint8_t> payload;
  protocol_error error = protocol_error::none;
};

class frame_decoder {
 public:
  explicit frame_decoder(decoder_options options = {}) noexcept : options_(options) {}

  // Decodes from the start of `input`. Every message produces one or more data events, the last
  // with last == true; a control frame produces one control event (close payloads are already
  // checked: length, code and UTF-8 reason). After an error the decoder stays failed.
  // Text payloads are UTF-8 validated unless the message is compressed (validate after inflate).
  decode_event next(std::span<std::uint8_t> input) noexcept;

  void set_rsv1_allowed(bool allowed) noexcept { options_.rsv1_allowed = allowed; }
  bool failed() const noexcept { return failed_ != protocol_error::none; }
  // True when no frame or fragmented message is in progress (a clean place to stop reading).
  bool idle() const noexcept;

 private:
  enum class state : std::uint8_t { header, payload, control_payload, failed };
  decode_event fail(protocol_error err, std::size_t consumed) noexcept;

  decoder_options options_;
  state state_ = state::header;
  protocol_error failed_ = protocol_error::none;
  // Header being assembled (a header may be split across reads).
  std::array<std::uint8_t, max_frame_header> header_{};
  std::uint8_t header_len_ = 0;
  // Current frame.
  opcode frame_op_ = opcode::continuation;
  bool frame_fin_ = false;
  bool masked_ = false;
  mask_key key_{};
  unsigned phase_ = 0;
  std::uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  // Current (possibly fragmented) data message.
  bool in_message_ = false;
  bool message_first_pending_ = false;  // next data event is the first of its message
  opcode message_op_ = opcode::continuation;
  bool message_compressed_ = false;
  std::uint64_t message_size_ = 0;
  utf8_validator utf8_;
  // A control frame gathered across reads.
  std::array<std::uint8_t, max_control_payload> control_{};
  std::uint8_t control_len_ = 0;
};

// A received close frame's body, parsed (§5.5.1). The payload must already have passed the
// decoder's checks.
struct close_body {
  std::uint16_t code = static_cast<std::uint16_t>(close_code::no_status);  // 1005 if empty
  std::span<const std::uint8_t> reason;
};
close_body parse_close_body(std::span<const std::uint8_t> payload) noexcept;

}  // namespace shoal::core
