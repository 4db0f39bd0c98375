// Differential tests: every SIMD masking and UTF-8 kernel the CPU supports against the scalar
// kernel on random cases (lengths 0..4096 and some of 64 KiB..1 MiB, random alignments, mask
// phases and keys, valid and broken UTF-8 of every byte class, random split points). The seed
// is fixed and printed; set SHOAL_TEST_SEED to try another. Case i is generated from (seed, i)
// alone, so a failure names the one case to rerun.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <utility>
#include <vector>

#include "core/cpu_features.hpp"
#include "core/unmask.hpp"
#include "core/utf8.hpp"
#include "core/utf8_dfa.hpp"

namespace shoal::core {
namespace {

using bytes = std::vector<std::uint8_t>;

// SplitMix64: small, fast even unoptimised under sanitizers, and fully determined by its seed.
class rng_t {
 public:
  explicit rng_t(std::uint64_t s) : state_(s) {}
  std::uint64_t operator()() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

constexpr int random_cases = 100'000;

std::uint64_t seed() {
  static const std::uint64_t s = [] {
    const char* env = std::getenv("SHOAL_TEST_SEED");
    const std::uint64_t v = env != nullptr ? std::strtoull(env, nullptr, 0) : 0x5eed'5a0a'2024ull;
    std::printf("simd differential seed: 0x%llx (set SHOAL_TEST_SEED to change)\n",
                static_cast<unsigned long long>(v));
    return v;
  }();
  return s;
}

rng_t case_rng(int i) {
  return rng_t(seed() ^ (0xd1b54a32d192ed03ull * static_cast<std::uint64_t>(i + 1)));
}

std::size_t below(rng_t& rng, std::size_t n) {
  return n == 0 ? 0 : static_cast<std::size_t>(rng() % n);
}

// Writes text into a buffer with room to spare, without a vector's per-byte bookkeeping (which
// dominates the run time of this test when built unoptimised with sanitizers).
class text_writer {
 public:
  explicit text_writer(std::size_t room) : out_(room) {}
  std::size_t size() const { return at_; }
  bool full(std::size_t len) const { return at_ >= len; }
  void put(std::uint32_t b) { out_[at_++] = static_cast<std::uint8_t>(b); }
  void put_code_point(std::uint32_t cp) {
    if (cp < 0x80) {
      put(cp);
    } else if (cp < 0x800) {
      put(0xC0 | (cp >> 6));
      put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      put(0xE0 | (cp >> 12));
      put(0x80 | ((cp >> 6) & 0x3F));
      put(0x80 | (cp & 0x3F));
    } else {
      put(0xF0 | (cp >> 18));
      put(0x80 | ((cp >> 12) & 0x3F));
      put(0x80 | ((cp >> 6) & 0x3F));
      put(0x80 | (cp & 0x3F));
    }
  }
  bytes take() && {
    out_.resize(at_);
    return std::move(out_);
  }

 private:
  bytes out_;
  std::size_t at_ = 0;
};

std::uint32_t random_code_point(rng_t& rng, unsigned width) {
  switch (width) {
    case 1:
      return static_cast<std::uint32_t>(below(rng, 0x80));
    case 2:
      return static_cast<std::uint32_t>(0x80 + below(rng, 0x800 - 0x80));
    case 3: {
      std::uint32_t cp = static_cast<std::uint32_t>(0x800 + below(rng, 0x10000 - 0x800 - 0x800));
      return cp >= 0xD800 ? cp + 0x800 : cp;  // skip the surrogates
    }
    default:
      return static_cast<std::uint32_t>(0x10000 + below(rng, 0x110000 - 0x10000));
  }
}

constexpr std::uint32_t edge_code_points[] = {0x0,     0x7F,    0x80,     0x7FF,   0x800,   0xFFF,
                                              0x1000,  0xD7FF,  0xE000,   0xFFFF,  0x10000, 0x3FFFF,
                                              0x40000, 0xFFFFF, 0x100000, 0x10FFFF};

// Stray continuations, bytes that never appear, leads left open, overlongs, surrogates,
// values above U+10FFFF.
// clang-format off
const bytes broken[] = {
    {0x80}, {0xBF}, {0xC0}, {0xC1}, {0xF5}, {0xFF}, {0xC2}, {0xE1}, {0xF1}, {0xE2, 0x82},
    {0xED, 0xA0}, {0xE0, 0x9F}, {0xF0, 0x8F}, {0xF4, 0x90}, {0xC0, 0x80}, {0xED, 0xBF, 0xBF},
    {0xF4, 0x90, 0x80, 0x80}};
// clang-format on

// Random text of about `len` bytes: ASCII only, mixed widths, mostly multi-byte, edge code
// points, random bytes, characters at vector and block edges, or long ASCII runs between wide
// characters; then, sometimes, broken bytes spliced in and a random truncation.
bytes random_text(rng_t& rng, std::size_t len) {
  constexpr std::size_t longest_step = 256 + 300 + 8 * 4;  // the most one `case` below writes
  text_writer w(len + longest_step);
  const unsigned profile = static_cast<unsigned>(below(rng, 8));
  const auto width = [&rng](unsigned first, unsigned count) {
    return first + static_cast<unsigned>(below(rng, count));
  };
  while (!w.full(len)) {
    switch (profile) {
      case 0:
        w.put(static_cast<std::uint32_t>(below(rng, 0x80)));
        break;
      case 1:  // mostly ASCII
        w.put_code_point(random_code_point(rng, below(rng, 4) == 0 ? width(1, 4) : 1));
        break;
      case 2:
        w.put_code_point(random_code_point(rng, width(1, 4)));
        break;
      case 3:
        w.put_code_point(random_code_point(rng, width(2, 3)));
        break;
      case 4:
        w.put_code_point(edge_code_points[below(rng, std::size(edge_code_points))]);
        break;
      case 5:
        w.put(static_cast<std::uint32_t>(rng() & 0xff));
        break;
      case 6: {
        // A character, a character cut short, or a broken sequence that ends 0..2 bytes before
        // a vector or block edge, then ASCII: what crosses (or fails to cross) the edge.
        text_writer item(8);
        item.put_code_point(random_code_point(rng, width(2, 3)));
        bytes piece = std::move(item).take();
        const unsigned kind = static_cast<unsigned>(below(rng, 3));
        if (kind == 1) piece.resize(1 + below(rng, piece.size() - 1));
        if (kind == 2) piece = broken[below(rng, std::size(broken))];
        const std::size_t edge = std::size_t{32} << below(rng, 4);
        const std::size_t end = (w.size() / edge + 1) * edge - below(rng, 3);
        while (w.size() + piece.size() < end) w.put('e');
        for (std::uint8_t b : piece) w.put(b);
        for (std::size_t r = below(rng, 300); r != 0; --r) w.put('f');
        break;
      }
      default:  // runs of ASCII (often longer than a block) between runs of wide characters
        for (std::size_t r = below(rng, 300); r != 0; --r) {
          w.put(static_cast<std::uint32_t>(below(rng, 0x80)));
        }
        for (std::size_t r = below(rng, 8); r != 0; --r) {
          w.put_code_point(random_code_point(rng, width(2, 3)));
        }
        break;
    }
  }
  bytes out = std::move(w).take();
  if (below(rng, 3) == 0 && !out.empty()) {
    const std::size_t count = 1 + below(rng, 3);
    for (std::size_t k = 0; k < count; ++k) {
      const bytes& b = broken[below(rng, std::size(broken))];
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(below(rng, out.size() + 1)), b.begin(),
                 b.end());
    }
  }
  if (below(rng, 4) == 0) out.resize(below(rng, out.size() + 1));
  return out;
}

std::size_t random_length(rng_t& rng) {
  return below(rng, 10) < 3 ? below(rng, 4097) : below(rng, 257);
}

// Up to four random cut points, sorted, with 0 and n at the ends.
std::vector<std::size_t> random_cuts(rng_t& rng, std::size_t n) {
  std::vector<std::size_t> cuts = {0, n};
  const std::size_t extra = below(rng, 5);
  for (std::size_t k = 0; k < extra; ++k) cuts.push_back(below(rng, n + 1));
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

// A copy of `data` at `align` bytes past a 64-byte boundary, with guard bytes on both sides.
class placed {
 public:
  placed(const bytes& data, std::size_t align)
      : storage_(data.size() + 256, guard), size_(data.size()) {
    const std::size_t base = (64 - reinterpret_cast<std::uintptr_t>(storage_.data()) % 64) % 64;
    offset_ = base + 64 + align;
    if (size_ != 0) std::memcpy(storage_.data() + offset_, data.data(), size_);
  }
  std::uint8_t* data() { return storage_.data() + offset_; }
  bytes contents() const {
    return bytes(storage_.begin() + static_cast<std::ptrdiff_t>(offset_),
                 storage_.begin() + static_cast<std::ptrdiff_t>(offset_ + size_));
  }
  bool guards_intact() const {
    static const bytes guards(256, guard);
    const std::size_t after = offset_ + size_;
    return std::memcmp(storage_.data(), guards.data(), offset_) == 0 &&
           std::memcmp(storage_.data() + after, guards.data(), storage_.size() - after) == 0;
  }

 private:
  static constexpr std::uint8_t guard = 0xa5;
  bytes storage_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

using unmask_fn = unsigned (*)(std::uint8_t*, std::size_t, mask_key, unsigned) noexcept;
using validate_fn = std::uint8_t (*)(std::uint8_t, const std::uint8_t*, std::size_t) noexcept;
using fused_fn = std::uint8_t (*)(std::uint8_t, std::uint8_t*, std::size_t, mask_key,
                                  unsigned) noexcept;

struct simd_kernels {
  std::vector<std::pair<const char*, unmask_fn>> unmask;
  std::vector<std::pair<const char*, validate_fn>> validate;
  std::vector<std::pair<const char*, fused_fn>> fused;
};

simd_kernels supported() {
  const cpu_features& f = detected_cpu_features();
  simd_kernels k;
  if (f.sse2) k.unmask.push_back({"sse2", kernels::unmask_sse2});
  if (f.avx2) {
    k.unmask.push_back({"avx2", kernels::unmask_avx2});
    k.validate.push_back({"avx2", kernels::utf8_avx2});
    k.fused.push_back({"avx2", kernels::unmask_utf8_avx2});
  }
  if (f.avx512) {
    k.unmask.push_back({"avx512", kernels::unmask_avx512});
    k.validate.push_back({"avx512", kernels::utf8_avx512});
    k.fused.push_back({"avx512", kernels::unmask_utf8_avx512});
  }
  return k;
}

mask_key random_key(rng_t& rng) {
  const auto w = rng();
  return {static_cast<std::uint8_t>(w), static_cast<std::uint8_t>(w >> 8),
          static_cast<std::uint8_t>(w >> 16), static_cast<std::uint8_t>(w >> 24)};
}

bytes scalar_masked(const bytes& plain, mask_key key, unsigned phase) {
  bytes m = plain;
  kernels::unmask_scalar(m.data(), m.size(), key, phase);
  return m;
}

// Checks case `where` through every SIMD kernel; returns false (after reporting) on a mismatch.
bool check_case(const simd_kernels& k, const bytes& text, rng_t& rng, int where) {
  const std::uint8_t want = kernels::utf8_scalar(utf8_dfa::boundary, text.data(), text.size());
  for (const auto& [name, fn] : k.unmask) {
    const mask_key key = random_key(rng);
    const unsigned phase = static_cast<unsigned>(below(rng, 4));
    placed p(text, below(rng, 64));
    const unsigned got_phase = fn(p.data(), text.size(), key, phase);
    EXPECT_EQ(got_phase, (phase + text.size()) % 4) << name << " " << where;
    EXPECT_EQ(p.contents(), scalar_masked(text, key, phase)) << name << " unmask " << where;
    EXPECT_TRUE(p.guards_intact()) << name << " unmask wrote outside the buffer " << where;
  }
  for (const auto& [name, fn] : k.validate) {
    placed p(text, below(rng, 64));
    EXPECT_EQ(fn(utf8_dfa::boundary, p.data(), text.size()), want) << name << " whole " << where;
    std::uint8_t s = utf8_dfa::boundary;
    std::uint8_t ref = utf8_dfa::boundary;
    const auto cuts = random_cuts(rng, text.size());
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
      s = fn(s, p.data() + cuts[c], cuts[c + 1] - cuts[c]);
      ref = kernels::utf8_scalar(ref, text.data() + cuts[c], cuts[c + 1] - cuts[c]);
      EXPECT_EQ(s, ref) << name << " streamed, piece " << c << ", " << where;
    }
    EXPECT_EQ(s, want) << name << " streamed " << where;
  }
  for (const auto& [name, fn] : k.fused) {
    const mask_key key = random_key(rng);
    const unsigned phase = static_cast<unsigned>(below(rng, 4));
    placed p(scalar_masked(text, key, phase), below(rng, 64));
    std::uint8_t s = utf8_dfa::boundary;
    std::uint8_t ref = utf8_dfa::boundary;
    const auto cuts = random_cuts(rng, text.size());
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
      s = fn(s, p.data() + cuts[c], cuts[c + 1] - cuts[c], key,
             static_cast<unsigned>((phase + cuts[c]) % 4));
      ref = kernels::utf8_scalar(ref, text.data() + cuts[c], cuts[c + 1] - cuts[c]);
      EXPECT_EQ(s, ref) << name << " fused, piece " << c << ", " << where;
    }
    EXPECT_EQ(s, want) << name << " fused " << where;
    EXPECT_EQ(p.contents(), text) << name << " fused unmask " << where;
    EXPECT_TRUE(p.guards_intact()) << name << " fused wrote outside the buffer " << where;
  }
  return !::testing::Test::HasFailure();
}

TEST(SimdDifferential, RandomCasesMatchScalar) {
  const simd_kernels k = supported();
  if (k.unmask.empty()) GTEST_SKIP() << "no SIMD kernel supported by this CPU";
  int invalid = 0;
  for (int i = 0; i < random_cases; ++i) {
    rng_t rng = case_rng(i);
    const bytes text = random_text(rng, random_length(rng));
    invalid += !validate_utf8(text.data(), text.size());
    ASSERT_TRUE(check_case(k, text, rng, i)) << "case " << i << ", seed " << seed();
  }
  // Both outcomes must be well represented, or the test says little.
  EXPECT_GT(invalid, random_cases / 5);
  EXPECT_LT(invalid, random_cases * 4 / 5);
}

TEST(SimdDifferential, LargeInputsMatchScalar) {
  const simd_kernels k = supported();
  if (k.unmask.empty()) GTEST_SKIP() << "no SIMD kernel supported by this CPU";
  for (int i = 0; i < 12; ++i) {
    rng_t rng = case_rng(-2 - i);
    const std::size_t len = (64u << 10) + below(rng, (1u << 20) - (64u << 10) + 1);
    const bytes text = random_text(rng, len);
    ASSERT_TRUE(check_case(k, text, rng, -2 - i)) << "case " << -2 - i << ", seed " << seed();
  }
}

}  // namespace
}  // namespace shoal::core
