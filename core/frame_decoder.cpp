// The streaming frame decoder (see frame_decoder.hpp): a state machine over header, data payload
// and control payload, with a fast path that parses a header straight from the input when all of
// it is there. Used by one connection's thread. Invariants: a header is validated in full before
// any byte of its payload is accepted; nothing is allocated; after an error nothing else is read.
#include "core/frame_decoder.hpp"

#include <algorithm>
#include <cstring>

namespace shoal::core {
namespace {

// Payloads up to this size (one AVX2 vector) are unmasked and screened for ASCII inline, which
// beats a call through the dispatched SIMD kernels for the small frames typical of pub/sub
// traffic (BM_Decode_SmallFrames/20: 60 M frames/s inline, 48 M through the kernels).
constexpr std::size_t short_payload = 32;

// Header length announced by the second header byte (§5.2): 2, plus 2 or 8 bytes of extended
// length, plus 4 bytes of masking key.
constexpr std::size_t header_size_from(std::uint8_t b1) noexcept {
  const unsigned len7 = b1 & 0x7fu;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80u) != 0 ? 4 : 0);
}

// Opcodes defined by §5.2 (0x0-0x2 data, 0x8-0xA control), as a bit set indexed by opcode.
constexpr unsigned defined_opcodes = 0x0707u;

inline std::uint64_t load_be(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// XORs a short payload with the key rotated to `phase` and reports whether every unmasked byte
// is ASCII (so a validator at a character boundary can skip it).
inline bool unmask_short(std::uint8_t* p, std::size_t n, mask_key key, unsigned phase) noexcept {
  const std::uint8_t rotated[4] = {key[phase & 3], key[(phase + 1) & 3], key[(phase + 2) & 3],
                                   key[(phase + 3) & 3]};
  std::uint32_t k32;
  std::memcpy(&k32, rotated, 4);
  const std::uint64_t k64 = (static_cast<std::uint64_t>(k32) << 32) | k32;
  std::uint64_t high = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k64;
    high |= w;
    std::memcpy(p + i, &w, 8);
  }
  if (i + 4 <= n) {
    std::uint32_t w;
    std::memcpy(&w, p + i, 4);
    w ^= k32;
    high |= w;
    std::memcpy(p + i, &w, 4);
    i += 4;
  }
  for (; i < n; ++i) {
    p[i] ^= rotated[i & 3];
    high |= p[i];
  }
  return (high & 0x8080808080808080ull) == 0;
}

}  // namespace

decode_event frame_decoder::fail(protocol_error err, std::size_t consumed) noexcept {
  state_ = state::failed;
  failed_ = err;
  decode_event ev;
  ev.consumed = consumed;
  ev.status = decode_status::error;
  ev.error = err;
  return ev;
}

decode_event frame_decoder::next(std::span<std::uint8_t> input) noexcept {
  std::uint8_t* const in = input.data();
  const std::size_t size = input.size();
  switch (state_) {
    case state::header:
      break;
    case state::payload:
      if (size == 0) return decode_event{};
      return data_chunk(in, size, 0);
    case state::control_payload:
      return gather_control(in, size, 0);
    case state::failed: {
      decode_event ev;
      ev.status = decode_status::error;
      ev.error = failed_;
      return ev;
    }
  }
  // Fast path: the whole header is in the input; parse it in place.
  if (header_len_ == 0 && size >= 2) {
    const std::size_t header_size = header_size_from(in[1]);
    if (size >= header_size) {
      const protocol_error err = parse_header(in);
      if (err != protocol_error::none) return fail(err, header_size);
      return start_frame(in, size, header_size);
    }
  }
  return gather_header(in, size);
}

decode_event frame_decoder::gather_header(std::uint8_t* in, std::size_t size) noexcept {
  std::size_t pos = 0;
  while (header_len_ < 2 && pos < size) header_[header_len_++] = in[pos++];
  decode_event more;
  more.consumed = pos;
  if (header_len_ < 2) return more;
  // Fail as soon as the first two bytes break a rule, without waiting for the rest.
  const protocol_error early = check_first_bytes(header_[0], header_[1]);
  if (early != protocol_error::none) return fail(early, pos);
  const std::size_t header_size = header_size_from(header_[1]);
  const std::size_t take = std::min(header_size - header_len_, size - pos);
  if (take != 0) std::memcpy(header_.data() + header_len_, in + pos, take);
  header_len_ = static_cast<std::uint8_t>(header_len_ + take);
  pos += take;
  more.consumed = pos;
  if (header_len_ < header_size) return more;
  header_len_ = 0;
  const protocol_error err = parse_header(header_.data());
  if (err != protocol_error::none) return fail(err, pos);
  return start_frame(in, size, pos);
}

// The rules that the first two header bytes decide (§5.1, §5.2, §5.4, §5.5; RFC 7692 §6).
protocol_error frame_decoder::check_first_bytes(std::uint8_t b0, std::uint8_t b1) const noexcept {
  const unsigned op = b0 & 0x0fu;
  const bool control = (op & 0x8u) != 0;
  const unsigned len7 = b1 & 0x7fu;
  if (((defined_opcodes >> op) & 1u) == 0) return protocol_error::reserved_opcode;
  if ((b0 & 0x30u) != 0) return protocol_error::reserved_bits;  // RSV2, RSV3: no extension uses them
  if ((b0 & 0x40u) != 0) {
    if (!options_.rsv1_allowed) return protocol_error::reserved_bits;
    if (control) return protocol_error::compressed_control;
    if (op == 0) return protocol_error::compressed_continuation;
  }
  if (control) {
    if ((b0 & 0x80u) == 0) return protocol_error::fragmented_control;
    if (len7 > max_control_payload) return protocol_error::control_too_long;
    if (op == 0x8 && len7 == 1) return protocol_error::close_payload_length_one;
  }
  const bool mask_bit = (b1 & 0x80u) != 0;
  if (mask_bit != masked()) {
    return masked() ? protocol_error::unmasked_frame : protocol_error::masked_frame;
  }
  if (op == 0 && !in_message_) return protocol_error::unexpected_continuation;
  if (!control && op != 0 && in_message_) return protocol_error::expected_continuation;
  return protocol_error::none;
}

// Validates a whole header at `h` and, if it passes, makes it the current frame.
protocol_error frame_decoder::parse_header(const std::uint8_t* h) noexcept {
  const std::uint8_t b0 = h[0];
  const std::uint8_t b1 = h[1];
  const protocol_error early = check_first_bytes(b0, b1);
  if (early != protocol_error::none) return early;
  std::uint64_t len = b1 & 0x7fu;
  std::size_t pos = 2;
  if (len == 126) {
    len = load_be(h + 2, 2);
    pos = 4;
    if (len < 126) return protocol_error::non_minimal_length;  // §5.2: minimal encoding
  } else if (len == 127) {
    len = load_be(h + 2, 8);
    pos = 10;
    if ((len >> 63) != 0) return protocol_error::length_top_bit;
    if (len <= 0xffff) return protocol_error::non_minimal_length;
  }
  const auto op = static_cast<opcode>(b0 & 0x0fu);
  if (!is_control(op)) {
    // §7.4.1 (1009): the whole message, over all fragments, must fit; decided before any payload.
    const std::uint64_t so_far = op == opcode::continuation ? message_size_ : 0;
    if (len > options_.max_message_size - so_far) return protocol_error::message_too_big;
  }
  frame_op_ = op;
  frame_fin_ = (b0 & 0x80u) != 0;
  frame_rsv1_ = (b0 & 0x40u) != 0;
  remaining_ = len;
  phase_ = 0;
  if (masked()) std::memcpy(key_.data(), h + pos, 4);
  return protocol_error::none;
}

// A valid header ending at `pos` was just parsed; handle the frame's start.
decode_event frame_decoder::start_frame(std::uint8_t* in, std::size_t size,
                                        std::size_t pos) noexcept {
  if (is_control(frame_op_)) {
    const auto n = static_cast<std::size_t>(remaining_);  // <= 125, checked
    if (n <= size - pos) {
      // The whole control payload is here: unmask it in place.
      std::uint8_t* p = in + pos;
      if (masked() && n != 0) unmask_short(p, n, key_, 0);
      remaining_ = 0;
      return finish_control(p, n, pos + n);
    }
    control_len_ = 0;
    return gather_control(in, size, pos);
  }
  if (frame_op_ != opcode::continuation) {
    in_message_ = true;
    message_first_pending_ = true;
    message_op_ = frame_op_;
    message_compressed_ = frame_rsv1_;
    validate_utf8_ = frame_op_ == opcode::text && !frame_rsv1_;
    message_size_ = 0;
    utf8_.reset();
  }
  message_size_ += remaining_;
  if (remaining_ != 0 && pos == size) {
    state_ = state::payload;
    decode_event more;
    more.consumed = pos;
    return more;
  }
  return data_chunk(in, size, pos);
}

// Delivers the next chunk of a data frame's payload: in[pos, pos + n), unmasked and validated.
decode_event frame_decoder::data_chunk(std::uint8_t* in, std::size_t size,
                                       std::size_t pos) noexcept {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size - pos));
  std::uint8_t* p = in + pos;
  bool valid = true;
  if (n != 0) {
    if (masked()) {
      if (n <= short_payload) {
        const bool ascii = unmask_short(p, n, key_, phase_);
        phase_ = (phase_ + static_cast<unsigned>(n)) & 3u;
        if (validate_utf8_ && !(ascii && utf8_.complete())) valid = utf8_.feed(p, n);
      } else if (validate_utf8_) {
        valid = unmask_validate_utf8(p, n, key_, phase_, utf8_);
      } else {
        phase_ = unmask(p, n, key_, phase_);
      }
    } else if (validate_utf8_) {
      valid = utf8_.feed(p, n);
    }
  }
  remaining_ -= n;
  const bool frame_done = remaining_ == 0;
  const bool last = frame_done && frame_fin_;
  const std::size_t consumed = pos + n;
  // §8.1: fail at the first chunk holding an invalid byte, and a text message must not end
  // inside a character.
  if (!valid || (last && validate_utf8_ && !utf8_.complete())) {
    return fail(protocol_error::invalid_utf8, consumed);
  }
  decode_event ev;
  ev.payload = {p, n};
  ev.consumed = consumed;
  ev.status = decode_status::data;
  ev.op = message_op_;
  ev.first = message_first_pending_;
  ev.last = last;
  ev.compressed = message_compressed_;
  message_first_pending_ = false;
  state_ = frame_done ? state::header : state::payload;
  if (last) in_message_ = false;
  return ev;
}

// Gathers a control payload split across reads into control_, then delivers it.
decode_event frame_decoder::gather_control(std::uint8_t* in, std::size_t size,
                                           std::size_t pos) noexcept {
  const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size - pos));
  if (take != 0) std::memcpy(control_.data() + control_len_, in + pos, take);
  control_len_ = static_cast<std::uint8_t>(control_len_ + take);
  remaining_ -= take;
  pos += take;
  if (remaining_ != 0) {
    state_ = state::control_payload;
    decode_event more;
    more.consumed = pos;
    return more;
  }
  const std::size_t n = control_len_;
  control_len_ = 0;
  if (masked() && n != 0) unmask_short(control_.data(), n, key_, 0);
  return finish_control(control_.data(), n, pos);
}

decode_event frame_decoder::finish_control(const std::uint8_t* payload, std::size_t n,
                                           std::size_t consumed) noexcept {
  if (frame_op_ == opcode::close && n >= 2) {
    // §7.4: only codes defined for the wire; §5.5.1: the reason is UTF-8 (1007 otherwise).
    const auto code = static_cast<std::uint16_t>(load_be(payload, 2));
    if (!is_valid_wire_close_code(code)) return fail(protocol_error::invalid_close_code, consumed);
    if (!validate_utf8(payload + 2, n - 2)) {
      return fail(protocol_error::invalid_close_reason, consumed);
    }
  }
  state_ = state::header;
  decode_event ev;
  ev.payload = {payload, n};
  ev.consumed = consumed;
  ev.status = decode_status::control;
  ev.op = frame_op_;
  return ev;
}

close_body parse_close_body(std::span<const std::uint8_t> payload) noexcept {
  close_body body;
  if (payload.size() >= 2) {
    body.code = static_cast<std::uint16_t>(load_be(payload.data(), 2));
    body.reason = payload.subspan(2);
  }
  return body;
}

}  // namespace shoal::core
