// Tests of UTF-8 validation (core/utf8.hpp): the RFC 3629 rules (overlongs, surrogates, the
// U+10FFFF limit, bytes that never appear, stray continuations, truncation), each input fed
// whole, at every split point and byte by byte, through every kernel the CPU supports and
// through the fused unmask+validate kernels; fail-fast within a chunk; the lookup tables.
#include "core/utf8.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"
#include "core/utf8_dfa.hpp"

namespace shoal::core {
namespace {

using bytes = std::vector<std::uint8_t>;
using validate_fn = std::uint8_t (*)(std::uint8_t, const std::uint8_t*, std::size_t) noexcept;
using fused_fn = std::uint8_t (*)(std::uint8_t, std::uint8_t*, std::size_t, mask_key,
                                  unsigned) noexcept;

struct utf8_kernel {
  const char* name;
  validate_fn validate;
  fused_fn fused;
};

std::vector<utf8_kernel> supported_kernels() {
  const cpu_features& f = detected_cpu_features();
  std::vector<utf8_kernel> k = {{"scalar", kernels::utf8_scalar, kernels::unmask_utf8_scalar}};
  if (f.avx2) k.push_back({"avx2", kernels::utf8_avx2, kernels::unmask_utf8_avx2});
  if (f.avx512) k.push_back({"avx512", kernels::utf8_avx512, kernels::unmask_utf8_avx512});
  return k;
}

enum class verdict { valid, invalid, truncated };

// Encodes any value up to 21 bits with the UTF-8 bit layout, including values UTF-8 forbids.
bytes encode(std::uint32_t cp) {
  if (cp < 0x80) return {static_cast<std::uint8_t>(cp)};
  if (cp < 0x800) {
    return {static_cast<std::uint8_t>(0xC0 | (cp >> 6)),
            static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
  }
  if (cp < 0x10000) {
    return {static_cast<std::uint8_t>(0xE0 | (cp >> 12)),
            static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)),
            static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
  }
  return {static_cast<std::uint8_t>(0xF0 | (cp >> 18)),
          static_cast<std::uint8_t>(0x80 | ((cp >> 12) & 0x3F)),
          static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)),
          static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
}

bytes concat(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bytes repeat(const bytes& unit, std::size_t times) {
  bytes out;
  for (std::size_t i = 0; i < times; ++i) out.insert(out.end(), unit.begin(), unit.end());
  return out;
}

verdict verdict_of(std::uint8_t state) {
  if (state == utf8_dfa::boundary) return verdict::valid;
  return state == utf8_dfa::failed ? verdict::invalid : verdict::truncated;
}

const mask_key test_key = {0x5a, 0x01, 0xc3, 0x99};

bytes masked(const bytes& plain, unsigned phase) {
  bytes out = plain;
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>(out[i] ^ test_key[(phase + i) % 4]);
  return out;
}

// The reference DFA's state after each prefix of `in`: states[i] is the state after i bytes.
std::vector<std::uint8_t> prefix_states(const bytes& in) {
  std::vector<std::uint8_t> states(in.size() + 1, utf8_dfa::boundary);
  for (std::size_t i = 0; i < in.size(); ++i) states[i + 1] = utf8_dfa::step(states[i], in[i]);
  return states;
}

// Feeds `in` to kernel `k` in the pieces [cuts[i], cuts[i + 1]); checks that after each piece the
// state is the reference state `want` for that prefix (so a piece fails exactly when it holds the
// first invalid byte), and that the fused kernel on the same pieces (masked from `phase`) gives the
// same states and unmasks everything.
std::uint8_t feed_pieces(const utf8_kernel& k, const bytes& in,
                         const std::vector<std::uint8_t>& want,
                         const std::vector<std::size_t>& cuts, unsigned phase) {
  std::uint8_t s = utf8_dfa::boundary;
  std::uint8_t fs = utf8_dfa::boundary;
  bytes m = masked(in, phase);
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const std::size_t len = cuts[i + 1] - cuts[i];
    s = k.validate(s, in.data() + cuts[i], len);
    fs = k.fused(fs, m.data() + cuts[i], len, test_key,
                 static_cast<unsigned>((phase + cuts[i]) % 4));
    EXPECT_EQ(s, want[cuts[i + 1]]) << k.name << ": after " << cuts[i + 1] << " bytes";
    EXPECT_EQ(fs, want[cuts[i + 1]]) << k.name << ": fused, after " << cuts[i + 1] << " bytes";
  }
  EXPECT_EQ(m, in) << k.name << ": fused kernel did not unmask everything";
  EXPECT_EQ(fs, s) << k.name << ": fused kernel disagrees";
  return s;
}

// Checks every kernel and the public API on `in`, whole; with `splits`, also at every split
// point and byte by byte.
void expect_verdict(const bytes& in, verdict want, bool splits = true) {
  const std::vector<std::uint8_t> states = prefix_states(in);
  const std::uint8_t ref = states.back();
  ASSERT_EQ(ref, utf8_dfa::run(utf8_dfa::boundary, in.data(), in.size()));
  ASSERT_EQ(verdict_of(ref), want) << "the reference DFA disagrees with the test";
  EXPECT_EQ(validate_utf8(in.data(), in.size()), want == verdict::valid);
  for (const utf8_kernel& k : supported_kernels()) {
    SCOPED_TRACE(k.name);
    ASSERT_EQ(feed_pieces(k, in, states, {0, in.size()}, 1), ref);
    if (!splits) continue;
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
      ASSERT_EQ(feed_pieces(k, in, states, {0, cut, in.size()}, cut % 4), ref)
          << "split at " << cut;
    }
    std::vector<std::size_t> each(in.size() + 1);
    for (std::size_t i = 0; i <= in.size(); ++i) each[i] = i;
    ASSERT_EQ(feed_pieces(k, in, states, each, 2), ref) << "byte by byte";
  }
  // The public API, in two pieces at every split point.
  for (std::size_t cut = 0; cut <= in.size(); cut += splits ? 1 : in.size() + 1) {
    utf8_validator v;
    const bool first = v.feed(in.data(), cut);
    const bool second = v.feed(in.data() + cut, in.size() - cut);
    EXPECT_EQ(first && second, want != verdict::invalid) << "split at " << cut;
    EXPECT_EQ(first, states[cut] != utf8_dfa::failed)
        << "the first piece fails exactly when it holds an invalid byte; split at " << cut;
    EXPECT_EQ(v.complete(), want == verdict::valid);
    EXPECT_EQ(v.failed(), want == verdict::invalid);

    utf8_validator fv;
    bytes m = masked(in, 3);
    unsigned phase = 3;
    const bool f1 = unmask_validate_utf8(m.data(), cut, test_key, phase, fv);
    const bool f2 = unmask_validate_utf8(m.data() + cut, in.size() - cut, test_key, phase, fv);
    EXPECT_EQ(f1 && f2, want != verdict::invalid);
    EXPECT_EQ(fv.state(), v.state());
    EXPECT_EQ(phase, (3 + in.size()) % 4);
    EXPECT_EQ(m, in);
  }
}

// The same check with the input placed after prefixes that move it across vector and block
// boundaries (ASCII and multi-byte), and followed by ASCII so the error is inside a block.
void expect_verdict_in_context(const bytes& core, verdict want) {
  expect_verdict(core, want);
  const bytes ascii_tail = repeat({'z'}, 300);
  std::vector<std::size_t> prefixes = {1,  29, 30, 31,  32,  33,  61, 62,
                                       63, 64, 65, 127, 128, 129, 200};
  // And those that make `core` end exactly where a 32-, 64- or 128-byte block ends, so that the
  // next blocks (all ASCII) must notice the sequence left open.
  for (std::size_t end : {32, 64, 96, 128, 192, 256}) {
    if (end > core.size()) prefixes.push_back(end - core.size());
  }
  for (std::size_t pre : prefixes) {
    SCOPED_TRACE("prefix " + std::to_string(pre));
    const bytes ascii = concat(repeat({'a'}, pre), core);
    expect_verdict(ascii, want, pre == 62 || pre == 127);
    const bytes wide =
        concat(concat(repeat(encode(0x20AC), pre / 3), repeat({'b'}, pre % 3)), core);
    expect_verdict(wide, want, false);
    // A truncated sequence followed by ASCII is an error, not a truncation.
    expect_verdict(concat(ascii, ascii_tail),
                   want == verdict::valid ? verdict::valid : verdict::invalid, false);
  }
}

TEST(Utf8, AcceptsEveryBoundaryCodePoint) {
  bytes all;
  for (std::uint32_t cp : {0x0u,     0x1u,     0x7Fu,    0x80u,    0x7FFu,    0x800u,   0xFFFu,
                           0x1000u,  0xCFFFu,  0xD000u,  0xD7FFu,  0xE000u,   0xFFFDu,  0xFFFFu,
                           0x10000u, 0x3FFFFu, 0x40000u, 0xFFFFFu, 0x100000u, 0x10FFFFu}) {
    SCOPED_TRACE(cp);
    expect_verdict_in_context(encode(cp), verdict::valid);
    all = concat(all, encode(cp));
  }
  expect_verdict_in_context(all, verdict::valid);
  expect_verdict(repeat(all, 10), verdict::valid);
}

TEST(Utf8, RejectsOverlongForms) {
  for (const bytes& b :
       {bytes{0xC0, 0x80}, bytes{0xC0, 0xAF}, bytes{0xC1, 0xBF}, bytes{0xE0, 0x80, 0x80},
        bytes{0xE0, 0x9F, 0xBF}, bytes{0xF0, 0x80, 0x80, 0x80}, bytes{0xF0, 0x8F, 0xBF, 0xBF},
        bytes{0xF0, 0x80, 0x80, 0xAF}}) {
    expect_verdict_in_context(b, verdict::invalid);
  }
}

TEST(Utf8, RejectsSurrogates) {
  for (std::uint32_t cp : {0xD800u, 0xDBFFu, 0xDC00u, 0xDFFFu})
    expect_verdict_in_context(encode(cp), verdict::invalid);
  // A CESU-8 style pair is two surrogates, not one character.
  expect_verdict_in_context(concat(encode(0xD83D), encode(0xDE00)), verdict::invalid);
}

TEST(Utf8, RejectsAboveMaximum) {
  expect_verdict_in_context(encode(0x10FFFF), verdict::valid);
  for (std::uint32_t cp : {0x110000u, 0x13FFFFu, 0x140000u, 0x1FFFFFu})
    expect_verdict_in_context(encode(cp), verdict::invalid);
}

TEST(Utf8, RejectsBytesThatNeverAppear) {
  for (unsigned b = 0xF5; b <= 0xFF; ++b) {
    expect_verdict_in_context({static_cast<std::uint8_t>(b)}, verdict::invalid);
    expect_verdict_in_context({static_cast<std::uint8_t>(b), 0x80, 0x80, 0x80}, verdict::invalid);
  }
  expect_verdict_in_context({0xC0}, verdict::invalid);
  expect_verdict_in_context({0xC1}, verdict::invalid);
}

TEST(Utf8, RejectsStrayContinuation) {
  for (const bytes& b : {bytes{0x80}, bytes{0xBF}, bytes{'a', 0x80}, bytes{0xC2, 0x80, 0x80},
                         bytes{0xE2, 0x82, 0xAC, 0xAC}, bytes{0xF0, 0x9F, 0x98, 0x80, 0x80},
                         bytes{0x80, 0x80, 0x80, 0x80, 0x80}}) {
    expect_verdict_in_context(b, verdict::invalid);
  }
}

TEST(Utf8, RejectsLeadWithoutContinuation) {
  for (const bytes& b : {bytes{0xC2, 'a'}, bytes{0xE2, 0x82, 'a'}, bytes{0xF0, 0x9F, 0x98, 'a'},
                         bytes{0xE2, 0xE2, 0x82, 0xAC}, bytes{0xF4, 0xC2, 0x80}}) {
    expect_verdict_in_context(b, verdict::invalid);
  }
}

TEST(Utf8, TruncatedSequenceIsNotComplete) {
  for (const bytes& b : {bytes{0xC2}, bytes{0xDF}, bytes{0xE0}, bytes{0xE0, 0xA0},
                         bytes{0xED, 0x9F}, bytes{0xE2, 0x82}, bytes{0xF0}, bytes{0xF0, 0x90},
                         bytes{0xF0, 0x9F, 0x98}, bytes{0xF4, 0x8F, 0xBF}}) {
    expect_verdict_in_context(b, verdict::truncated);
  }
}

TEST(Utf8, FailsFastWithinAChunk) {
  // The chunk holding the bad byte fails, though the message has not ended.
  utf8_validator v;
  EXPECT_TRUE(v.feed(reinterpret_cast<const std::uint8_t*>("hello "), 6));
  bytes chunk = concat(repeat({'x'}, 300), {0xED, 0xA0, 0x80});
  chunk = concat(chunk, repeat({'y'}, 300));
  EXPECT_FALSE(v.feed(chunk.data(), chunk.size()));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.feed(reinterpret_cast<const std::uint8_t*>("ok"), 2)) << "stays failed";
  v.reset();
  EXPECT_TRUE(v.complete());

  // A sequence open at the end of one chunk, broken by the first byte of the next.
  const bytes open = concat(repeat({'q'}, 100), {0xF0, 0x9F});
  EXPECT_TRUE(v.feed(open.data(), open.size()));
  EXPECT_FALSE(v.complete());
  const bytes broken = concat({'a'}, repeat({'r'}, 200));
  EXPECT_FALSE(v.feed(broken.data(), broken.size()));

  // Through the fused kernel: the chunk fails, and is still unmasked whole.
  utf8_validator fv;
  const bytes plain = concat(concat(repeat({'m'}, 130), {0xC0, 0x80}), repeat({'n'}, 500));
  bytes m = masked(plain, 0);
  unsigned phase = 0;
  EXPECT_FALSE(unmask_validate_utf8(m.data(), m.size(), test_key, phase, fv));
  EXPECT_EQ(m, plain);
  EXPECT_TRUE(fv.failed());
  bytes more = masked(repeat({'o'}, 100), phase);
  EXPECT_FALSE(unmask_validate_utf8(more.data(), more.size(), test_key, phase, fv));
  EXPECT_EQ(more, repeat({'o'}, 100)) << "unmasked even once failed";
}

TEST(Utf8, LongMixedTextAtEverySplit) {
  bytes text;
  for (std::uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u, 0x7Fu, 0x10FFFFu, 0x800u, 0x5Au})
    text = concat(text, encode(cp));
  expect_verdict(repeat(text, 40), verdict::valid);
  expect_verdict(concat(repeat(text, 40), {0xF0, 0x9F, 0x98}), verdict::truncated);
}

TEST(Utf8, NoAccessOutsideBuffer) {
  // Each input gets a heap block of exactly its size, so AddressSanitizer flags any read or write
  // past either end, whatever the kernel's head, block and tail handling.
  bytes text;
  for (std::uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u}) text = concat(text, encode(cp));
  text = repeat(text, 60);
  for (std::size_t len = 0; len <= 300; ++len) {
    for (std::size_t start : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
      const std::size_t n = std::min(len, text.size() - start);
      auto exact = std::make_unique<std::uint8_t[]>(n);
      std::copy_n(text.begin() + static_cast<std::ptrdiff_t>(start), n, exact.get());
      const std::uint8_t want = utf8_dfa::run(utf8_dfa::boundary, exact.get(), n);
      for (const utf8_kernel& k : supported_kernels()) {
        ASSERT_EQ(k.validate(utf8_dfa::boundary, exact.get(), n), want) << k.name << " " << n;
        ASSERT_EQ(k.fused(utf8_dfa::boundary, exact.get(), n, mask_key{}, 0), want) << k.name;
      }
    }
  }
}

TEST(Utf8, LookupTablesAgreeWithDfa) {
  // Emulates the SIMD check one byte at a time (zeros before the input) and compares its verdict
  // with the DFA: every 1- and 2-byte input, and 3- and 4-byte inputs over representative bytes.
  const auto emulate = [](const bytes& in) -> std::uint8_t {
    for (std::size_t i = 0; i < in.size(); ++i) {
      const std::uint8_t p1 = i >= 1 ? in[i - 1] : 0;
      const std::uint8_t p2 = i >= 2 ? in[i - 2] : 0;
      const std::uint8_t p3 = i >= 3 ? in[i - 3] : 0;
      const unsigned rules = utf8_lookup::prev_high_table[p1 >> 4] &
                             utf8_lookup::prev_low_table[p1 & 15] &
                             utf8_lookup::cur_high_table[in[i] >> 4];
      const unsigned must = (p2 >= 0xE0 || p3 >= 0xF0) ? 0x80 : 0;
      if ((rules ^ must) != 0) return utf8_dfa::failed;
    }
    return utf8_dfa::state_after_checked(in.data(), in.data() + in.size());
  };
  const auto same = [&](const bytes& in) {
    return emulate(in) == utf8_dfa::run(utf8_dfa::boundary, in.data(), in.size());
  };
  for (unsigned a = 0; a < 256; ++a) {
    ASSERT_TRUE(same({static_cast<std::uint8_t>(a)})) << a;
    for (unsigned b = 0; b < 256; ++b)
      ASSERT_TRUE(same({static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)}))
          << a << " " << b;
  }
  const bytes reps = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                      0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  for (auto a : reps)
    for (auto b : reps)
      for (auto c : reps) {
        ASSERT_TRUE(same({a, b, c}));
        for (auto d : reps)
          ASSERT_TRUE(same({a, b, c, d}))
              << int(a) << " " << int(b) << " " << int(c) << " " << int(d);
      }
}

TEST(Utf8, DispatchPicksBestSupportedKernel) {
  const cpu_features& f = detected_cpu_features();
  const std::string name = utf8_kernel_name();
  EXPECT_EQ(name, f.avx512 ? "avx512" : f.avx2 ? "avx2" : "scalar");
}

}  // namespace
}  // namespace shoal::core
