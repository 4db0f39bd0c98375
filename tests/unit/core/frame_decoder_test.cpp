// Tests for core/frame_decoder: every RFC 6455 framing rule the decoder enforces, each fed whole,
// split in two at every point, and byte by byte, asserting the same messages, control frames
// and error every time. Frames are built here by hand (not with the encoder) so that malformed
// ones can be made too. Single-threaded.
#include "core/frame_decoder.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::core {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes str(std::string_view s) { return bytes(s.begin(), s.end()); }
bytes filled(std::size_t n, std::uint8_t value = 'a') { return bytes(n, value); }

bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

constexpr std::uint8_t fin = 0x80, rsv1 = 0x40, rsv2 = 0x20, rsv3 = 0x10;
constexpr std::uint8_t op_cont = 0x0, op_text = 0x1, op_bin = 0x2, op_close = 0x8,
                       op_ping = 0x9, op_pong = 0xA;

struct frame_spec {
  std::uint8_t b0 = fin | op_text;
  bytes payload;
  bool masked = true;
  int length_bytes = -1;                   // -1: minimal; 0, 2 or 8 force that encoding
  std::optional<std::uint64_t> announced;  // length in the header, if not payload.size()
  mask_key key{0xa5, 0x3c, 0x0f, 0x96};
};

bytes make(const frame_spec& f) {
  const std::uint64_t len = f.announced.value_or(f.payload.size());
  const int lb = f.length_bytes >= 0 ? f.length_bytes : len < 126 ? 0 : len <= 0xffff ? 2 : 8;
  bytes out{f.b0};
  const std::uint8_t mask_bit = f.masked ? 0x80 : 0;
  out.push_back(static_cast<std::uint8_t>(mask_bit | (lb == 0 ? len : lb == 2 ? 126 : 127)));
  for (int i = lb - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
  if (f.masked) out.insert(out.end(), f.key.begin(), f.key.end());
  for (std::size_t i = 0; i < f.payload.size(); ++i) {
    out.push_back(static_cast<std::uint8_t>(f.payload[i] ^ (f.masked ? f.key[i % 4] : 0)));
  }
  return out;
}

bytes frame(std::uint8_t b0, const bytes& payload, bool masked = true) {
  frame_spec f;
  f.b0 = b0;
  f.payload = payload;
  f.masked = masked;
  return make(f);
}
// A text frame with its length forced into `length_bytes` extra bytes (0, 2 or 8).
bytes with_length_bytes(const bytes& payload, int length_bytes) {
  frame_spec f;
  f.payload = payload;
  f.length_bytes = length_bytes;
  return make(f);
}
// A text frame header announcing `len` bytes, with no payload after it.
bytes announcing(std::uint64_t len) {
  frame_spec f;
  f.announced = len;
  return make(f);
}
bytes close_frame(std::uint16_t code, std::string_view reason, bool masked = true) {
  bytes body{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code)};
  body.insert(body.end(), reason.begin(), reason.end());
  return frame(fin | op_close, body, masked);
}

// What a run produced, independent of how the input was split.
struct entry {
  decode_status kind = decode_status::data;
  opcode op = opcode::text;
  bytes payload;
  bool complete = true;  // data: the message's last event was seen
  bool compressed = false;
  friend bool operator==(const entry&, const entry&) = default;
};
struct transcript {
  std::vector<entry> entries;
  protocol_error error = protocol_error::none;
  friend bool operator==(const transcript&, const transcript&) = default;
};
void PrintTo(const transcript& t, std::ostream* os) {
  for (const auto& e : t.entries) {
    *os << (e.kind == decode_status::data ? "\n  data op=" : "\n  control op=")
        << static_cast<int>(e.op) << " len=" << e.payload.size()
        << (e.complete ? "" : " incomplete") << (e.compressed ? " compressed" : "");
  }
  *os << "\n  error=" << describe(t.error);
}

entry msg(opcode op, const bytes& payload, bool complete = true, bool compressed = false) {
  return {decode_status::data, op, payload, complete, compressed};
}
entry ctl(opcode op, const bytes& payload) { return {decode_status::control, op, payload}; }

constexpr std::size_t no_message = ~std::size_t{0};

// Feeds `wire` cut at `cuts`, each piece in its own heap buffer, and checks the per-call
// invariants on the way.
transcript decode_pieces(const decoder_options& opts, const bytes& wire,
                         const std::vector<std::size_t>& cuts) {
  frame_decoder dec(opts);
  transcript t;
  std::size_t open = no_message;  // entry of the message in progress
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : wire.size();
    bytes piece(wire.begin() + static_cast<std::ptrdiff_t>(begin),
                wire.begin() + static_cast<std::ptrdiff_t>(end));
    begin = end;
    std::span<std::uint8_t> rest(piece);
    for (;;) {
      const decode_event ev = dec.next(rest);
      EXPECT_LE(ev.consumed, rest.size());
      if (ev.status == decode_status::need_more) {
        EXPECT_EQ(ev.consumed, rest.size());
        break;
      }
      if (ev.status == decode_status::error) {
        t.error = ev.error;
        EXPECT_TRUE(dec.failed());
        const decode_event again = dec.next(rest.subspan(ev.consumed));
        EXPECT_EQ(again.status, decode_status::error);
        EXPECT_EQ(again.error, ev.error);
        EXPECT_EQ(again.consumed, 0u);
        // How much of a message is delivered before a bad UTF-8 byte depends on the chunking.
        if (ev.error == protocol_error::invalid_utf8 && open != no_message) {
          t.entries.erase(t.entries.begin() + static_cast<std::ptrdiff_t>(open));
        }
        return t;
      }
      const std::uint8_t* p = ev.payload.data();
      if (ev.status == decode_status::data) {
        EXPECT_TRUE(ev.payload.empty() || (p >= rest.data() && p + ev.payload.size() <=
                                                                   rest.data() + ev.consumed));
        EXPECT_TRUE(ev.op == opcode::text || ev.op == opcode::binary);
        EXPECT_EQ(ev.first, open == no_message);
        if (ev.first) {
          open = t.entries.size();
          t.entries.push_back(msg(ev.op, {}, false, ev.compressed));
        }
        if (open == no_message) return t;
        entry& m = t.entries[open];
        EXPECT_EQ(m.op, ev.op);
        EXPECT_EQ(m.compressed, ev.compressed);
        m.payload.insert(m.payload.end(), ev.payload.begin(), ev.payload.end());
        if (ev.last) {
          m.complete = true;
          open = no_message;
        }
      } else {
        EXPECT_TRUE(is_control(ev.op));
        EXPECT_LE(ev.payload.size(), max_control_payload);
        t.entries.push_back(ctl(ev.op, bytes(ev.payload.begin(), ev.payload.end())));
      }
      rest = rest.subspan(ev.consumed);
    }
  }
  return t;
}

// Split points to try: all of them for small inputs, a spread for large ones.
std::vector<std::size_t> split_points(std::size_t n) {
  std::vector<std::size_t> out;
  for (std::size_t k = 1; k < n; ++k) {
    if (n <= 4096 || k < 300 || k + 300 > n || k % 997 == 0) out.push_back(k);
  }
  return out;
}

void expect_decodes(const decoder_options& opts, const bytes& wire, const transcript& expected) {
  {
    SCOPED_TRACE("whole");
    EXPECT_EQ(decode_pieces(opts, wire, {}), expected);
  }
  for (std::size_t k : split_points(wire.size())) {
    SCOPED_TRACE("split at " + std::to_string(k));
    const transcript got = decode_pieces(opts, wire, {k});
    EXPECT_EQ(got, expected);
    if (got != expected) return;  // one failing split says enough
  }
  if (wire.size() > 1) {
    SCOPED_TRACE("byte by byte");
    std::vector<std::size_t> cuts;
    for (std::size_t k = 1; k < wire.size(); ++k) cuts.push_back(k);
    EXPECT_EQ(decode_pieces(opts, wire, cuts), expected);
  }
}

const decoder_options server{};
const decoder_options client{.local_role = role::client};
const decoder_options deflate{.rsv1_allowed = true};

void expect_error(const decoder_options& opts, const bytes& wire, protocol_error err,
                  std::vector<entry> before = {}) {
  expect_decodes(opts, wire, {std::move(before), err});
}

// The events of a whole-buffer run, for tests about event boundaries.
std::vector<decode_event> whole_events(const decoder_options& opts, bytes& wire) {
  frame_decoder dec(opts);
  std::vector<decode_event> out;
  std::span<std::uint8_t> rest(wire);
  for (;;) {
    const decode_event ev = dec.next(rest);
    if (ev.status == decode_status::need_more) return out;
    out.push_back(ev);
    if (ev.status == decode_status::error) return out;
    rest = rest.subspan(ev.consumed);
  }
}

TEST(FrameDecoder, DecodesMaskedTextFrame) {
  expect_decodes(server, frame(fin | op_text, str("Hello, world")),
                 {{msg(opcode::text, str("Hello, world"))}});
}

TEST(FrameDecoder, DecodesBinaryWithoutUtf8Check) {
  expect_decodes(server, frame(fin | op_bin, bytes{0xff, 0xc0, 0x80}),
                 {{msg(opcode::binary, bytes{0xff, 0xc0, 0x80})}});
}

TEST(FrameDecoder, EmptyMessageYieldsOneEvent) {
  bytes wire = frame(fin | op_text, {});
  const auto events = whole_events(server, wire);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status, decode_status::data);
  EXPECT_TRUE(events[0].first && events[0].last);
  EXPECT_TRUE(events[0].payload.empty());
  expect_decodes(server, frame(fin | op_text, {}), {{msg(opcode::text, {})}});
}

TEST(FrameDecoder, EmptyFragmentsYieldEventsToo) {
  bytes wire = cat({frame(op_text, {}), frame(op_cont, str("ab")), frame(fin | op_cont, {})});
  const auto events = whole_events(server, wire);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0].first && !events[0].last && events[0].payload.empty());
  EXPECT_TRUE(!events[1].first && !events[1].last && events[1].payload.size() == 2);
  EXPECT_TRUE(!events[2].first && events[2].last && events[2].payload.empty());
  expect_decodes(server, cat({frame(op_text, {}), frame(op_cont, str("ab")), frame(fin | op_cont, {})}),
                 {{msg(opcode::text, str("ab"))}});
}

TEST(FrameDecoder, DecodesFragmentedMessage) {
  expect_decodes(server,
                 cat({frame(op_bin, str("one ")), frame(op_cont, str("two ")),
                      frame(fin | op_cont, str("three")), frame(fin | op_text, str("next"))}),
                 {{msg(opcode::binary, str("one two three")), msg(opcode::text, str("next"))}});
}

TEST(FrameDecoder, ControlFramesInterleaveBetweenFragments) {
  expect_decodes(server,
                 cat({frame(op_text, str("frag1 ")), frame(fin | op_ping, str("p")),
                      frame(op_cont, str("frag2 ")), frame(fin | op_pong, {}),
                      frame(fin | op_cont, str("frag3")), close_frame(1000, "bye")}),
                 {{msg(opcode::text, str("frag1 frag2 frag3")), ctl(opcode::ping, str("p")),
                   ctl(opcode::pong, {}), ctl(opcode::close, cat({bytes{0x03, 0xe8}, str("bye")}))}});
}

TEST(FrameDecoder, AcceptsControlPayloadOf125Bytes) {
  expect_decodes(server, frame(fin | op_ping, filled(125, 0xee)),
                 {{ctl(opcode::ping, filled(125, 0xee))}});
}

TEST(FrameDecoder, RejectsControlPayloadOf126Bytes) {
  expect_error(server, frame(fin | op_ping, filled(126)), protocol_error::control_too_long);
  expect_error(server, frame(fin | op_pong, filled(300)), protocol_error::control_too_long);
}

TEST(FrameDecoder, Decodes16BitLengths) {
  expect_decodes(server, frame(fin | op_bin, filled(126, 7)), {{msg(opcode::binary, filled(126, 7))}});
  expect_decodes(server, frame(fin | op_text, filled(0xffff)), {{msg(opcode::text, filled(0xffff))}});
}

TEST(FrameDecoder, Decodes64BitLength) {
  expect_decodes(server, frame(fin | op_bin, filled(0x10000, 3)),
                 {{msg(opcode::binary, filled(0x10000, 3))}});
}

TEST(FrameDecoder, RejectsNonMinimal16BitLength) {
  expect_error(server, with_length_bytes(filled(125), 2),
               protocol_error::non_minimal_length);
  expect_error(server, with_length_bytes({}, 2), protocol_error::non_minimal_length);
}

TEST(FrameDecoder, RejectsNonMinimal64BitLength) {
  expect_error(server, with_length_bytes(filled(0xffff), 8),
               protocol_error::non_minimal_length);
  expect_error(server, with_length_bytes(filled(5), 8),
               protocol_error::non_minimal_length);
}

TEST(FrameDecoder, RejectsLengthWithTopBitSet) {
  expect_error(server, announcing(0x8000000000000000ull),
               protocol_error::length_top_bit);
  expect_error(server, announcing(~0ull), protocol_error::length_top_bit);
}

TEST(FrameDecoder, RejectsReservedBitsWithoutExtension) {
  for (std::uint8_t bit : {rsv1, rsv2, rsv3}) {
    expect_error(server, frame(fin | bit | op_text, str("x")), protocol_error::reserved_bits);
  }
  // permessage-deflate only gives meaning to RSV1.
  expect_error(deflate, frame(fin | rsv2 | op_text, str("x")), protocol_error::reserved_bits);
  expect_error(deflate, frame(fin | rsv3 | op_bin, str("x")), protocol_error::reserved_bits);
}

TEST(FrameDecoder, AcceptsRsv1OnFirstFrameWithDeflate) {
  // Compressed text is not UTF-8 validated here: the inflater validates what it produces.
  expect_decodes(deflate,
                 cat({frame(rsv1 | op_text, bytes{0xf2, 0x48}), frame(fin | op_ping, {}),
                      frame(fin | op_cont, bytes{0xff}), frame(fin | op_text, str("plain"))}),
                 {{msg(opcode::text, bytes{0xf2, 0x48, 0xff}, true, true), ctl(opcode::ping, {}),
                   msg(opcode::text, str("plain"))}});
}

TEST(FrameDecoder, RejectsRsv1OnContinuation) {
  expect_error(deflate, cat({frame(rsv1 | op_text, str("a")), frame(fin | rsv1 | op_cont, str("b"))}),
               protocol_error::compressed_continuation, {msg(opcode::text, str("a"), false, true)});
}

TEST(FrameDecoder, RejectsRsv1OnControl) {
  expect_error(deflate, frame(fin | rsv1 | op_ping, {}), protocol_error::compressed_control);
  expect_error(deflate, frame(fin | rsv1 | op_close, {}), protocol_error::compressed_control);
}

TEST(FrameDecoder, Rsv1RulesHoldInTheClientRole) {
  // A client decoding a server's unmasked frames follows RFC 7692 §6 the same way.
  const decoder_options client_deflate{.local_role = role::client, .rsv1_allowed = true};
  expect_decodes(client_deflate, frame(fin | rsv1 | op_bin, bytes{0x00}, false),
                 {{msg(opcode::binary, bytes{0x00}, true, true)}});
  expect_error(client_deflate, frame(fin | rsv1 | op_pong, {}, false),
               protocol_error::compressed_control);
  expect_error(client, frame(fin | rsv1 | op_text, str("x"), false), protocol_error::reserved_bits);
}

TEST(FrameDecoder, Rsv1OnlyOnTheFirstFrameOfAnUncompressedMessageToo) {
  // RSV1 on a continuation is wrong whether or not the message began compressed.
  expect_error(deflate, cat({frame(op_bin, str("a")), frame(fin | rsv1 | op_cont, str("b"))}),
               protocol_error::compressed_continuation, {msg(opcode::binary, str("a"), false)});
  // Uncompressed and compressed messages may alternate on a deflate connection.
  expect_decodes(deflate,
                 cat({frame(fin | op_bin, str("p")), frame(fin | rsv1 | op_bin, bytes{0x02, 0x00}),
                      frame(fin | op_text, str("q"))}),
                 {{msg(opcode::binary, str("p")), msg(opcode::binary, bytes{0x02, 0x00}, true, true),
                   msg(opcode::text, str("q"))}});
}

TEST(FrameDecoder, CompressedMessageLimitCountsWireBytes) {
  // max_message_size bounds the compressed bytes here; the inflater bounds what they inflate to.
  const decoder_options small{.max_message_size = 4, .rsv1_allowed = true};
  expect_decodes(small, frame(fin | rsv1 | op_text, bytes{1, 2, 3, 4}),
                 {{msg(opcode::text, bytes{1, 2, 3, 4}, true, true)}});
  expect_error(small, frame(fin | rsv1 | op_text, bytes{1, 2, 3, 4, 5}),
               protocol_error::message_too_big);
}

TEST(FrameDecoder, Rsv1CanBeAllowedAfterTheHandshake) {
  frame_decoder dec(server);
  bytes wire = frame(fin | rsv1 | op_text, bytes{0x00});
  dec.set_rsv1_allowed(true);
  const decode_event ev = dec.next(wire);
  EXPECT_EQ(ev.status, decode_status::data);
  EXPECT_TRUE(ev.compressed);
}

TEST(FrameDecoder, RejectsReservedOpcodes) {
  for (std::uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    SCOPED_TRACE(op);
    expect_error(server, frame(static_cast<std::uint8_t>(fin | op), str("x")),
                 protocol_error::reserved_opcode);
  }
}

TEST(FrameDecoder, RejectsFragmentedControl) {
  expect_error(server, frame(op_ping, str("x")), protocol_error::fragmented_control);
  expect_error(server, frame(op_close, {}), protocol_error::fragmented_control);
}

TEST(FrameDecoder, ServerRoleRejectsUnmaskedFrame) {
  expect_error(server, frame(fin | op_text, str("hi"), false), protocol_error::unmasked_frame);
}

TEST(FrameDecoder, ClientRoleRejectsMaskedFrame) {
  expect_error(client, frame(fin | op_text, str("hi")), protocol_error::masked_frame);
}

TEST(FrameDecoder, ClientRoleDecodesUnmaskedFrames) {
  expect_decodes(client,
                 cat({frame(op_text, str("caf\xc3"), false), frame(fin | op_ping, str("?"), false),
                      frame(fin | op_cont, str("\xa9"), false), close_frame(4000, "done", false)}),
                 {{msg(opcode::text, str("caf\xc3\xa9")), ctl(opcode::ping, str("?")),
                   ctl(opcode::close, cat({bytes{0x0f, 0xa0}, str("done")}))}});
}

TEST(FrameDecoder, RejectsContinuationWithoutStart) {
  expect_error(server, frame(fin | op_cont, str("x")), protocol_error::unexpected_continuation);
  expect_error(server, cat({frame(fin | op_text, str("a")), frame(op_cont, str("b"))}),
               protocol_error::unexpected_continuation, {msg(opcode::text, str("a"))});
}

TEST(FrameDecoder, RejectsNewMessageInsideFragmentedMessage) {
  expect_error(server, cat({frame(op_text, str("a")), frame(fin | op_text, str("b"))}),
               protocol_error::expected_continuation, {msg(opcode::text, str("a"), false)});
  expect_error(server, cat({frame(op_bin, str("a")), frame(fin | op_ping, {}), frame(op_bin, str("b"))}),
               protocol_error::expected_continuation,
               {msg(opcode::binary, str("a"), false), ctl(opcode::ping, {})});
}

TEST(FrameDecoder, MessageSizeLimitAcrossFragments) {
  const decoder_options limited{.max_message_size = 100};
  expect_decodes(limited, frame(fin | op_bin, filled(100)), {{msg(opcode::binary, filled(100))}});
  expect_error(limited, frame(fin | op_bin, filled(101)), protocol_error::message_too_big);
  const bytes exact = cat({frame(op_text, filled(40)), frame(fin | op_ping, filled(60)),
                           frame(op_cont, filled(60)), frame(fin | op_cont, {})});
  expect_decodes(limited, exact, {{msg(opcode::text, filled(100)), ctl(opcode::ping, filled(60))}});
  const bytes over = cat({frame(op_text, filled(40)), frame(op_cont, filled(60)),
                          frame(fin | op_cont, filled(1))});
  expect_error(limited, over, protocol_error::message_too_big, {msg(opcode::text, filled(100), false)});
  // The limit applies per message: the next one starts again from zero.
  expect_decodes(limited, cat({frame(fin | op_bin, filled(100)), frame(fin | op_bin, filled(100))}),
                 {{msg(opcode::binary, filled(100)), msg(opcode::binary, filled(100))}});
}

TEST(FrameDecoder, RejectsOversizedFrameFromHeaderAlone) {
  // No payload byte follows the header: the limit is decided before any is accepted.
  const decoder_options limited{.max_message_size = 1000};
  const bytes header_only = announcing(1u << 20);
  expect_error(limited, header_only, protocol_error::message_too_big);
}

TEST(FrameDecoder, RejectsCloseWithOneBytePayload) {
  expect_error(server, frame(fin | op_close, bytes{0x03}), protocol_error::close_payload_length_one);
}

TEST(FrameDecoder, AcceptsEmptyCloseAndValidCodes) {
  expect_decodes(server, frame(fin | op_close, {}), {{ctl(opcode::close, {})}});
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                             1014, 3000, 3999, 4000, 4999}) {
    SCOPED_TRACE(code);
    const bytes body{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code), 'o', 'k'};
    expect_decodes(server, close_frame(code, "ok"), {{ctl(opcode::close, body)}});
    bytes wire = close_frame(code, "");
    const auto events = whole_events(server, wire);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].status, decode_status::control);
    EXPECT_EQ(parse_close_body(events[0].payload).code, code);
  }
}

TEST(FrameDecoder, RejectsInvalidCloseCodes) {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    SCOPED_TRACE(code);
    expect_error(server, close_frame(code, "x"), protocol_error::invalid_close_code);
  }
}

TEST(FrameDecoder, RejectsCloseReasonThatIsNotUtf8) {
  expect_error(server, close_frame(1000, "bad \xff reason"), protocol_error::invalid_close_reason);
  expect_error(server, close_frame(1000, "cut \xe2\x82"), protocol_error::invalid_close_reason);
  EXPECT_EQ(close_code_for(protocol_error::invalid_close_reason), close_code::invalid_payload);
}

TEST(FrameDecoder, RejectsInvalidUtf8Text) {
  expect_error(server, frame(fin | op_text, str("ok \xc0\xaf")), protocol_error::invalid_utf8);
  expect_error(server, frame(fin | op_text, str("\xed\xa0\x80")), protocol_error::invalid_utf8);
  expect_error(server, frame(fin | op_text, filled(300, 0xfe)), protocol_error::invalid_utf8);
}

TEST(FrameDecoder, FailsAtFirstBadChunkMidFragment) {
  // The frame announces 1000 bytes but only 20 arrive: the bad byte alone fails the message.
  bytes payload = filled(1000);
  payload[10] = 0xff;
  const bytes full = frame(op_cont, payload);
  const bytes wire(full.begin(), full.begin() + 2 + 4 + 2 + 20);
  expect_error(server, cat({frame(op_text, str("start")), frame(fin | op_ping, {}), wire}),
               protocol_error::invalid_utf8, {ctl(opcode::ping, {})});
}

TEST(FrameDecoder, RejectsTextEndingInsideCharacter) {
  expect_error(server, frame(fin | op_text, str("euro \xe2\x82")), protocol_error::invalid_utf8);
  expect_error(server, cat({frame(op_text, str("\xf0\x9f")), frame(fin | op_cont, str("\x98"))}),
               protocol_error::invalid_utf8);
  // An empty final fragment cannot complete a character either.
  expect_error(server, cat({frame(op_text, str("\xe2\x82")), frame(fin | op_cont, {})}),
               protocol_error::invalid_utf8);
}

TEST(FrameDecoder, AcceptsCharactersSplitAcrossFragments) {
  expect_decodes(server,
                 cat({frame(op_text, str("\xf0\x9f")), frame(op_cont, str("\x98")),
                      frame(fin | op_cont, str("\x80 \xe2\x82\xac"))}),
                 {{msg(opcode::text, str("\xf0\x9f\x98\x80 \xe2\x82\xac"))}});
}

TEST(FrameDecoder, DeliversPartialPayloadAsItArrives) {
  bytes wire = frame(fin | op_bin, filled(50));
  frame_decoder dec;
  std::span<std::uint8_t> all(wire);
  decode_event ev = dec.next(all.first(6 + 20));
  EXPECT_EQ(ev.status, decode_status::data);
  EXPECT_EQ(ev.payload.size(), 20u);
  EXPECT_TRUE(ev.first && !ev.last);
  EXPECT_FALSE(dec.idle());
  EXPECT_EQ(dec.next(all.subspan(26, 0)).status, decode_status::need_more);
  ev = dec.next(all.subspan(26));
  EXPECT_EQ(ev.payload.size(), 30u);
  EXPECT_TRUE(!ev.first && ev.last);
  EXPECT_TRUE(dec.idle());
}

TEST(FrameDecoder, NeedMoreConsumesPartialHeader) {
  bytes wire = with_length_bytes(filled(300), -1);
  frame_decoder dec;
  const decode_event ev = dec.next(std::span<std::uint8_t>(wire).first(5));
  EXPECT_EQ(ev.status, decode_status::need_more);
  EXPECT_EQ(ev.consumed, 5u);
  EXPECT_FALSE(dec.idle());
}

TEST(FrameDecoder, RejectsBadHeaderBeforeItIsComplete) {
  // Two bytes decide the reserved opcode, though the header announces a 64-bit length.
  bytes wire{0x83, 0xff};
  frame_decoder dec;
  const decode_event ev = dec.next(wire);
  EXPECT_EQ(ev.status, decode_status::error);
  EXPECT_EQ(ev.error, protocol_error::reserved_opcode);
}

TEST(FrameDecoder, ParsesCloseBody) {
  const bytes body = cat({bytes{0x03, 0xe9}, str("going")});
  const close_body parsed = parse_close_body(body);
  EXPECT_EQ(parsed.code, 1001);
  EXPECT_EQ(std::string(parsed.reason.begin(), parsed.reason.end()), "going");
  EXPECT_EQ(parse_close_body({}).code, 1005);
}

}  // namespace
}  // namespace shoal::core
