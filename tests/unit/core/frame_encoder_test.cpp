// Tests for core/frame_encoder: header bytes for each length encoding, round trips through the
// decoder for both roles and many payload sizes, fresh masking keys per frame, and close bodies
// truncated at a UTF-8 boundary. Single-threaded.
#include "core/frame_encoder.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/frame_decoder.hpp"
#include "core/utf8.hpp"

namespace shoal::core {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

// ASCII text with a few multi-byte characters, valid UTF-8 of exactly n bytes.
bytes utf8_text(std::size_t n) {
  bytes out;
  static const std::string pieces[] = {"hello ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "z"};
  for (std::size_t i = 0; out.size() < n; ++i) {
    const std::string& p = pieces[i % 5];
    if (out.size() + p.size() > n) {
      out.push_back('.');
      continue;
    }
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

TEST(FrameEncoder, EncodesHeaderLengths) {
  std::uint8_t h[max_frame_header];
  EXPECT_EQ(encode_frame_header(h, opcode::text, 0, true, false, nullptr), 2u);
  EXPECT_EQ(h[0], 0x81);
  EXPECT_EQ(h[1], 0x00);
  EXPECT_EQ(encode_frame_header(h, opcode::binary, 125, false, true, nullptr), 2u);
  EXPECT_EQ(h[0], 0x42);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(encode_frame_header(h, opcode::binary, 126, true, false, nullptr), 4u);
  EXPECT_EQ(bytes(h, h + 4), (bytes{0x82, 126, 0x00, 126}));
  EXPECT_EQ(encode_frame_header(h, opcode::binary, 0xffff, true, false, nullptr), 4u);
  EXPECT_EQ(bytes(h, h + 4), (bytes{0x82, 126, 0xff, 0xff}));
  EXPECT_EQ(encode_frame_header(h, opcode::binary, 0x10000, true, false, nullptr), 10u);
  EXPECT_EQ(bytes(h, h + 10), (bytes{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
  const mask_key key{1, 2, 3, 4};
  EXPECT_EQ(encode_frame_header(h, opcode::ping, 5, true, false, &key), 6u);
  EXPECT_EQ(bytes(h, h + 6), (bytes{0x89, 0x85, 1, 2, 3, 4}));
  EXPECT_EQ(encode_frame_header(h, opcode::text, 1u << 20, true, false, &key),
            frame_header_size(1u << 20, true));
}

struct decoded {
  bytes payload;
  int first_events = 0;
  int last_events = 0;
  protocol_error error = protocol_error::none;
};

// Decodes `wire` in pieces of `piece` bytes (0: whole).
decoded decode(role local, bytes wire, std::size_t piece) {
  frame_decoder dec({.local_role = local, .max_message_size = 4u << 20});
  decoded out;
  std::span<std::uint8_t> all(wire);
  std::size_t at = 0;
  while (at < all.size()) {
    const std::size_t n = piece == 0 ? all.size() - at : std::min(piece, all.size() - at);
    std::span<std::uint8_t> rest = all.subspan(at, n);
    at += n;
    for (;;) {
      const decode_event ev = dec.next(rest);
      if (ev.status == decode_status::need_more) break;
      if (ev.status == decode_status::error) {
        out.error = ev.error;
        return out;
      }
      out.payload.insert(out.payload.end(), ev.payload.begin(), ev.payload.end());
      out.first_events += ev.first;
      out.last_events += ev.last;
      rest = rest.subspan(ev.consumed);
    }
  }
  EXPECT_TRUE(dec.idle());
  return out;
}

TEST(FrameEncoder, RoundTripsThroughDecoderForBothRoles) {
  for (role sender : {role::client, role::server}) {
    const role receiver = sender == role::client ? role::server : role::client;
    frame_encoder enc(sender);
    for (std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
      for (opcode op : {opcode::binary, opcode::text}) {
        SCOPED_TRACE("size " + std::to_string(size));
        const bytes payload = op == opcode::text ? utf8_text(size) : random_bytes(size, 7);
        bytes wire;
        enc.append_frame(wire, op, payload);
        EXPECT_EQ(wire.size(), frame_header_size(size, sender == role::client) + size);
        EXPECT_EQ((wire[1] & 0x80) != 0, sender == role::client);
        for (std::size_t piece : {std::size_t{0}, std::size_t{1000}, std::size_t{7}}) {
          if (piece == 1000 && size > 70000) piece = 65537;
          const decoded got = decode(receiver, wire, piece);
          EXPECT_EQ(got.error, protocol_error::none) << describe(got.error);
          EXPECT_EQ(got.payload, payload);
          EXPECT_EQ(got.first_events, 1);
          EXPECT_EQ(got.last_events, 1);
        }
      }
    }
  }
}

TEST(FrameEncoder, RoundTripsFragmentsAndControlFrames) {
  for (role sender : {role::client, role::server}) {
    frame_encoder enc(sender);
    const bytes text = utf8_text(300);
    bytes wire;
    enc.append_frame(wire, opcode::text, std::span(text).first(101), false);
    enc.append_frame(wire, opcode::ping, bytes{1, 2, 3});
    enc.append_frame(wire, opcode::continuation, std::span(text).subspan(101), true);
    enc.append_close(wire, close_code::going_away, "bye");
    frame_decoder dec({.local_role = sender == role::client ? role::server : role::client});
    std::span<std::uint8_t> rest(wire);
    bytes got;
    std::vector<opcode> controls;
    for (decode_event ev = dec.next(rest); ev.status != decode_status::need_more;
         ev = dec.next(rest)) {
      ASSERT_NE(ev.status, decode_status::error) << describe(ev.error);
      if (ev.status == decode_status::data) got.insert(got.end(), ev.payload.begin(), ev.payload.end());
      if (ev.status == decode_status::control) {
        controls.push_back(ev.op);
        if (ev.op == opcode::close) {
          const close_body body = parse_close_body(ev.payload);
          EXPECT_EQ(body.code, 1001);
          EXPECT_EQ(std::string(body.reason.begin(), body.reason.end()), "bye");
        }
      }
      rest = rest.subspan(ev.consumed);
    }
    EXPECT_EQ(got, text);
    EXPECT_EQ(controls, (std::vector<opcode>{opcode::ping, opcode::close}));
  }
}

TEST(FrameEncoder, ClientMasksWithFreshKeys) {
  frame_encoder enc(role::client);
  const bytes payload(16, 'x');
  std::set<std::uint32_t> keys;
  mask_key previous{};
  for (int i = 0; i < 300; ++i) {  // spans several RAND_bytes batches
    bytes wire;
    enc.append_frame(wire, opcode::binary, payload);
    ASSERT_EQ(wire.size(), 6u + 16u);
    const mask_key key{wire[2], wire[3], wire[4], wire[5]};
    EXPECT_NE(key, previous);
    previous = key;
    keys.insert(static_cast<std::uint32_t>(key[0] | key[1] << 8 | key[2] << 16 | key[3] << 24));
  }
  EXPECT_GE(keys.size(), 299u);  // 32-bit random keys: a repeat among 300 is ~1e-5 likely
}

TEST(FrameEncoder, ServerFramesAreUnmasked) {
  frame_encoder enc(role::server);
  bytes wire;
  enc.append_frame(wire, opcode::text, bytes{'h', 'i'});
  EXPECT_EQ(wire, (bytes{0x81, 0x02, 'h', 'i'}));
}

TEST(FrameEncoder, SetsRsv1ForCompressedMessages) {
  // RFC 7692 §6: RSV1 on the first frame of a compressed message only.
  std::uint8_t h[max_frame_header];
  encode_frame_header(h, opcode::text, 3, true, true, nullptr);
  EXPECT_EQ(h[0], 0xc1);
  encode_frame_header(h, opcode::binary, 3, false, true, nullptr);
  EXPECT_EQ(h[0], 0x42);
  for (role r : {role::server, role::client}) {
    frame_encoder enc(r);
    bytes wire;
    const bytes first{0xf2, 0x48}, rest{0xcd, 0xc9, 0xc9, 0x07, 0x00};
    enc.append_frame(wire, opcode::text, first, false, true);
    enc.append_frame(wire, opcode::continuation, rest, true, false);
    frame_decoder dec({r == role::server ? role::client : role::server, 1u << 20, true});
    std::span<std::uint8_t> in(wire);
    bytes payload;
    for (;;) {
      const decode_event ev = dec.next(in);
      ASSERT_EQ(ev.status, decode_status::data);
      EXPECT_TRUE(ev.compressed);
      EXPECT_EQ(ev.op, opcode::text);
      payload.insert(payload.end(), ev.payload.begin(), ev.payload.end());
      in = in.subspan(ev.consumed);
      if (ev.last) break;
    }
    EXPECT_EQ(payload, (bytes{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
  }
}

TEST(FrameEncoder, CloseBodyTruncatesReasonAtUtf8Boundary) {
  std::uint8_t body[max_control_payload];
  // 122 ASCII bytes then a 3-byte character: the character would not fit whole, so it goes.
  const std::string euro = std::string(122, 'a') + "\xe2\x82\xac";
  EXPECT_EQ(encode_close_body(body, close_code::normal, euro), 2u + 122u);
  EXPECT_EQ(body[0], 0x03);
  EXPECT_EQ(body[1], 0xe8);
  // A 4-byte character straddling the limit.
  const std::string emoji = std::string(121, 'a') + "\xf0\x9f\x98\x80" + "tail";
  EXPECT_EQ(encode_close_body(body, close_code::going_away, emoji), 2u + 121u);
  EXPECT_TRUE(validate_utf8(body + 2, 121));
  // A character that ends exactly at the limit stays.
  const std::string exact = std::string(120, 'a') + "\xe2\x82\xac" + "more";
  EXPECT_EQ(encode_close_body(body, close_code::normal, exact), 2u + 123u);
  EXPECT_TRUE(validate_utf8(body + 2, 123));
  // Short reasons are copied whole.
  EXPECT_EQ(encode_close_body(body, close_code::policy_violation, "no"), 4u);
  EXPECT_EQ(body[2], 'n');
  EXPECT_EQ(encode_close_body(body, close_code::normal, std::string(123, 'b')), 125u);
  EXPECT_EQ(encode_close_body(body, close_code::normal, std::string(500, 'b')), 125u);
}

TEST(FrameEncoder, CloseBodyOmitsCodesThatMustNotBeSent) {
  std::uint8_t body[max_control_payload];
  EXPECT_EQ(encode_close_body(body, close_code::no_status, "x"), 0u);
  EXPECT_EQ(encode_close_body(body, close_code::abnormal, "x"), 0u);
  EXPECT_EQ(encode_close_body(body, close_code::tls_handshake, "x"), 0u);
  EXPECT_EQ(encode_close_body(body, static_cast<close_code>(4123), "x"), 3u);
}

TEST(FrameEncoder, CloseFrameFitsControlLimit) {
  frame_encoder enc(role::client);
  bytes wire;
  enc.append_close(wire, close_code::internal_error, std::string(1000, 'r'));
  EXPECT_EQ(wire.size(), 6u + max_control_payload);
  const decoded got = decode(role::server, wire, 0);
  EXPECT_EQ(got.error, protocol_error::none);
}

}  // namespace
}  // namespace shoal::core
