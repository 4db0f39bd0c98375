// The permessage-deflate compressor: the tail cut, empty messages, output that depends only on
// the message without context takeover (compress once for many), the output bound, a too-small
// buffer, compressed frames that our decoder accepts, and the memory each configuration holds.
#include "core/deflater.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/frame_decoder.hpp"
#include "core/inflater.hpp"

namespace shoal::core {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes text(const std::string& s) { return bytes(s.begin(), s.end()); }

bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

bytes compress(deflater& d, const bytes& message) {
  bytes out(deflater::max_compressed_size(message.size()));
  const auto n = d.compress(message, out);
  EXPECT_TRUE(n.has_value());
  out.resize(n.value_or(0));
  return out;
}

bytes inflate(inflater& i, const bytes& payload) {
  bytes out;
  EXPECT_EQ(i.feed(payload, true, out, 1u << 24), inflate_status::done);
  return out;
}

TEST(Deflater, EmptyMessageIsOneZeroByte) {
  // RFC 7692 §7.2.3.6; also after a previous message with context takeover.
  for (bool takeover : {false, true}) {
    deflater d({15, 8, 6, takeover});
    EXPECT_EQ(compress(d, {}), bytes{0x00});
    compress(d, text("hello"));
    EXPECT_EQ(compress(d, {}), bytes{0x00});
    inflater i({15, takeover});
    EXPECT_TRUE(inflate(i, bytes{0x00}).empty());
  }
}

TEST(Deflater, KnownOutputForHello) {
  // RFC 7692 §7.2.3.1: "Hello" compressed without context takeover.
  deflater d({15, 8, 6, false});
  EXPECT_EQ(compress(d, text("Hello")), (bytes{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
}

TEST(Deflater, WithoutTakeoverOutputDependsOnlyOnTheMessage) {
  // What lets one shard deflater compress a broadcast once for every such subscriber.
  deflater shared({15, 8, 6, false});
  deflater fresh({15, 8, 6, false});
  const bytes a = text(R"({"op":"msg","topic":"prices.btc","seq":1,"data":{"bid":100.5}})");
  const bytes b = text(R"({"op":"msg","topic":"prices.btc","seq":2,"data":{"bid":100.7}})");
  compress(shared, a);
  EXPECT_EQ(compress(shared, b), compress(fresh, b));
}

TEST(Deflater, ContextTakeoverRefersToEarlierMessages) {
  deflater d({15, 8, 6, true});
  const bytes m = random_bytes(2000, 1);  // incompressible on its own
  const bytes first = compress(d, m);
  const bytes second = compress(d, m);
  EXPECT_GT(first.size(), 1900u);
  EXPECT_LT(second.size(), 50u);  // one long match into the previous message
  inflater i({15, true});
  EXPECT_EQ(inflate(i, first), m);
  EXPECT_EQ(inflate(i, second), m);
}

TEST(Deflater, BoundHoldsForIncompressibleInput) {
  for (std::uint8_t mem : {1, 8, 9}) {
    for (std::uint8_t level : {0, 1, 9}) {
      deflater d({15, mem, level, true});
      for (std::size_t n : {1u, 7u, 100u, 127u, 128u, 1000u, 4096u, 65535u, 65536u, 200000u}) {
        const bytes m = random_bytes(n, static_cast<std::uint32_t>(n + mem + level));
        bytes out(deflater::max_compressed_size(n));
        ASSERT_TRUE(d.compress(m, out).has_value()) << n << " mem " << int(mem) << " level " << int(level);
      }
    }
  }
}

TEST(Deflater, ChunksMakeOneMessage) {
  deflater d({12, 8, 6, true});
  inflater i({12, true});
  const bytes a = text("{\"op\":\"msg\",\"topic\":\"");
  const bytes b = text("t.1");
  const bytes c = random_bytes(300, 9);
  const std::span<const std::uint8_t> chunks[] = {a, {}, b, c};
  bytes out(deflater::max_compressed_size(a.size() + b.size() + c.size()));
  const auto n = d.compress(chunks, out);
  ASSERT_TRUE(n.has_value());
  out.resize(*n);
  bytes whole = a;
  whole.insert(whole.end(), b.begin(), b.end());
  whole.insert(whole.end(), c.begin(), c.end());
  EXPECT_EQ(inflate(i, out), whole);
}

TEST(Deflater, TooSmallOutputFailsAndResets) {
  for (bool takeover : {false, true}) {
    deflater d({15, 8, 6, takeover});
    inflater i({15, takeover});
    const bytes m1 = random_bytes(500, 2);
    EXPECT_EQ(inflate(i, compress(d, m1)), m1);
    const bytes big = random_bytes(5000, 3);
    bytes small(100);
    EXPECT_FALSE(d.compress(big, small).has_value());
    bytes none;
    EXPECT_FALSE(d.compress(big, none).has_value());
    EXPECT_FALSE(d.compress(bytes{}, none).has_value());
    // Nothing of the failed attempt was sent; the peer's inflater still follows.
    const bytes m2 = random_bytes(700, 4);
    EXPECT_EQ(inflate(i, compress(d, m2)), m2);
  }
}

TEST(Deflater, CompressedFramesDecode) {
  deflater d({15, 8, 6, false});
  for (std::size_t n : {0u, 5u, 125u, 200u, 70000u}) {
    for (bool masked : {false, true}) {
      const bytes m = random_bytes(n, static_cast<std::uint32_t>(n));
      bytes buf(compressed_frame_capacity(n));
      const mask_key key{1, 2, 3, 4};
      const auto frame = encode_compressed_frame(d, opcode::binary,
          std::span<const std::span<const std::uint8_t>>(), masked ? &key : nullptr, buf);
      ASSERT_TRUE(frame.has_value());
      const std::span<const std::uint8_t> chunks[] = {m};
      const auto f = encode_compressed_frame(d, opcode::binary, chunks, masked ? &key : nullptr, buf);
      ASSERT_TRUE(f.has_value());
      EXPECT_EQ((*f)[0], 0x80 | 0x40 | 0x2);  // FIN, RSV1, binary
      // A server decodes masked client frames; a client decodes unmasked server frames.
      frame_decoder dec({masked ? role::server : role::client, 1u << 20, true});
      bytes wire(f->begin(), f->end());
      const decode_event ev = dec.next(wire);
      ASSERT_EQ(ev.status, decode_status::data);
      EXPECT_TRUE(ev.first && ev.last && ev.compressed);
      EXPECT_EQ(ev.consumed, wire.size());
      inflater i({15, false});
      EXPECT_EQ(inflate(i, bytes(ev.payload.begin(), ev.payload.end())), m);
    }
  }
  bytes tiny(max_frame_header);
  const bytes m = text("x");
  const std::span<const std::uint8_t> chunks[] = {m};
  EXPECT_FALSE(encode_compressed_frame(d, opcode::text, chunks, nullptr, tiny).has_value());
}

TEST(Deflater, WindowEightRunsAsNineWithinTheWindow) {
  // zlib refuses a raw 256-byte window; at 9 bits it never refers more than 250 bytes back, so an
  // inflater limited to 8 bits accepts everything it makes.
  deflater d({8, 8, 9, true});
  inflater i({8, true});
  std::mt19937 rng(5);
  for (int k = 0; k < 50; ++k) {
    bytes m = random_bytes(64, static_cast<std::uint32_t>(k));
    for (int r = 0; r < 20; ++r) m.insert(m.end(), m.begin() + (rng() % 32), m.begin() + 40 + (rng() % 20));
    EXPECT_EQ(inflate(i, compress(d, m)), m);
  }
}

// Memory held by zlib per stream, reported for the README (see permessage_deflate.hpp).
TEST(DeflateMemory, PerConfiguration) {
  const bytes m = text(std::string(20000, 'a') + "some text to compress") ;
  // zlib's deflate holds a 2^w window twice over (window and chain links), a 2^(m+7)-entry hash
  // table of 2 bytes each, a 2^(m+8)-byte pending buffer, and about 5.9 KiB of state.
  std::printf("sizeof(deflater) %zu, sizeof(inflater) %zu\n", sizeof(deflater), sizeof(inflater));
  const std::pair<std::uint8_t, std::uint8_t> configs[] = {{15, 8}, {15, 1}, {13, 7}, {12, 4},
                                                           {10, 4}, {9, 1}};
  for (const auto& [w, mem] : configs) {
    deflater d({w, mem, 6, true});
    compress(d, m);
    std::printf("deflater window %u memLevel %u: %zu bytes (peak %zu)\n", w, mem,
                d.memory_bytes(), d.peak_memory_bytes());
    const std::size_t tables = (std::size_t{1} << (w + 2)) + (std::size_t{1} << (mem + 9));
    EXPECT_GE(d.memory_bytes(), tables);
    EXPECT_LE(d.peak_memory_bytes(), tables + (8u << 10));
  }
  for (std::uint8_t w : {8, 10, 12, 15}) {
    inflater i({w, true});
    const std::size_t before = i.memory_bytes();
    deflater d({w, 8, 6, true});
    inflate(i, compress(d, m));
    std::printf("inflater window %u: %zu bytes before the first message, %zu after (peak %zu)\n", w,
                before, i.memory_bytes(), i.peak_memory_bytes());
    EXPECT_GE(i.memory_bytes(), std::size_t{1} << w);
    EXPECT_LE(i.peak_memory_bytes(), (std::size_t{1} << w) + (8u << 10));
  }
}

}  // namespace
}  // namespace shoal::core
