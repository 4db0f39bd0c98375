// Tests of the masking kernels (core/unmask.hpp): every kernel the CPU supports against a byte
// loop for every length 0..300, alignment 0..63 and phase 0..3; no byte outside the buffer is
// read or written; a payload unmasked in pieces equals the payload unmasked whole.
#include "core/unmask.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"

namespace shoal::core {
namespace {

using kernel_fn = unsigned (*)(std::uint8_t*, std::size_t, mask_key, unsigned) noexcept;

struct kernel {
  std::string name;
  kernel_fn fn;
  bool supported;
};

std::vector<kernel> all_kernels() {
  const cpu_features& f = detected_cpu_features();
  return {{"scalar", kernels::unmask_scalar, true},
          {"sse2", kernels::unmask_sse2, f.sse2},
          {"avx2", kernels::unmask_avx2, f.avx2},
          {"avx512", kernels::unmask_avx512, f.avx512},
          {"dispatched", unmask, true}};
}

unsigned reference(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) {
  for (std::size_t i = 0; i < n; ++i)
    data[i] = static_cast<std::uint8_t>(data[i] ^ key[(phase + i) % 4]);
  return static_cast<unsigned>((phase + n) % 4);
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::mt19937& rng) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

class Unmask : public ::testing::TestWithParam<kernel> {
 protected:
  void SetUp() override {
    if (!GetParam().supported) GTEST_SKIP() << GetParam().name << " not supported by this CPU";
  }
};

TEST_P(Unmask, AnyPhaseAnyLength) {
  const kernel_fn fn = GetParam().fn;
  std::mt19937 rng(1);
  const mask_key key = {0x37, 0xfa, 0x21, 0x3d};
  constexpr std::size_t max_len = 300;
  constexpr std::size_t room = max_len + 64 + 64;
  // 64-byte aligned backing store, so "alignment" below is the true address alignment.
  std::vector<std::uint8_t> storage(room + 64);
  std::uint8_t* base =
      storage.data() + ((64 - reinterpret_cast<std::uintptr_t>(storage.data()) % 64) % 64);
  const std::vector<std::uint8_t> original = random_bytes(room, rng);
  std::vector<std::uint8_t> expected(room);
  for (std::size_t len = 0; len <= max_len; ++len) {
    for (std::size_t align = 0; align < 64; ++align) {
      for (unsigned phase = 0; phase < 4; ++phase) {
        std::memcpy(base, original.data(), room);
        expected = original;
        const unsigned want = reference(expected.data() + align, len, key, phase);
        const unsigned got = fn(base + align, len, key, phase);
        ASSERT_EQ(got, want) << "len " << len << " align " << align << " phase " << phase;
        ASSERT_EQ(std::memcmp(base, expected.data(), room), 0)
            << "len " << len << " align " << align << " phase " << phase;
      }
    }
  }
}

TEST_P(Unmask, NoAccessOutsideBuffer) {
  // Each payload gets its own heap block of exactly its size (AddressSanitizer flags any access
  // past either end), inside a copy with guard bytes that must come back unchanged.
  const kernel_fn fn = GetParam().fn;
  std::mt19937 rng(2);
  const mask_key key = {1, 2, 3, 4};
  for (std::size_t len :
       {0, 1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4097}) {
    auto exact = std::make_unique<std::uint8_t[]>(len);
    std::vector<std::uint8_t> payload = random_bytes(len, rng);
    if (len != 0) std::memcpy(exact.get(), payload.data(), len);
    fn(exact.get(), len, key, 1);
    reference(payload.data(), len, key, 1);
    EXPECT_TRUE(len == 0 || std::memcmp(exact.get(), payload.data(), len) == 0) << len;

    for (std::size_t align = 0; align < 64; ++align) {
      std::vector<std::uint8_t> guarded(len + 256, 0xa5);
      fn(guarded.data() + 64 + align, len, key, 3);
      for (std::size_t i = 0; i < 64 + align; ++i) ASSERT_EQ(guarded[i], 0xa5) << len << " " << i;
      for (std::size_t i = 64 + align + len; i < guarded.size(); ++i) {
        ASSERT_EQ(guarded[i], 0xa5) << len << " " << i;
      }
    }
  }
}

TEST_P(Unmask, SplitPayloadMatchesWhole) {
  const kernel_fn fn = GetParam().fn;
  std::mt19937 rng(3);
  const mask_key key = {0xde, 0xad, 0xbe, 0xef};
  for (int round = 0; round < 300; ++round) {
    const std::size_t len = rng() % 3000;
    const std::vector<std::uint8_t> original = random_bytes(len, rng);
    std::vector<std::uint8_t> whole = original;
    const unsigned start = rng() % 4;
    const unsigned whole_phase = fn(whole.data(), len, key, start);
    std::vector<std::uint8_t> pieces = original;
    unsigned phase = start;
    std::size_t at = 0;
    while (at < len) {
      const std::size_t piece = std::min<std::size_t>(len - at, rng() % 200);
      phase = fn(pieces.data() + at, piece, key, phase);
      at += piece;
    }
    ASSERT_EQ(phase, whole_phase);
    ASSERT_EQ(pieces, whole) << "round " << round;
    // Masking twice gives the original back.
    fn(pieces.data(), len, key, start);
    ASSERT_EQ(pieces, original);
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Unmask, ::testing::ValuesIn(all_kernels()),
                         [](const ::testing::TestParamInfo<kernel>& p) { return p.param.name; });

TEST(UnmaskDispatch, PicksBestSupportedKernel) {
  const cpu_features& f = detected_cpu_features();
  const std::string name = unmask_kernel_name();
  if (f.avx512) {
    EXPECT_EQ(name, "avx512");
  } else if (f.avx2) {
    EXPECT_EQ(name, "avx2");
  } else if (f.sse2) {
    EXPECT_EQ(name, "sse2");
  } else {
    EXPECT_EQ(name, "scalar");
  }
}

TEST(UnmaskDispatch, KeyWordStartsAtPhase) {
  const mask_key key = {0x11, 0x22, 0x33, 0x44};
  EXPECT_EQ(kernels::key_word(key, 0), 0x44332211u);
  EXPECT_EQ(kernels::key_word(key, 1), 0x11443322u);
  EXPECT_EQ(kernels::key_word(key, 3), 0x33221144u);
}

}  // namespace
}  // namespace shoal::core
