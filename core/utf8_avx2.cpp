// AVX2 UTF-8 kernels (see utf8.hpp, utf8_dfa.hpp): the Keiser-Lemire lookup check on 32-byte
// vectors, 128 bytes per iteration with an ASCII fast path; the fused kernel unmasks in
// registers, stores and checks the same registers. Heads and tails shorter than a vector are
// copied into a zeroed local block, so every access lies inside [data, data + n). Pure
// functions; safe from any thread.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "core/utf8_dfa.hpp"

namespace shoal::core::kernels {
namespace {

using bytes32 = std::array<std::uint8_t, 32>;

constexpr bytes32 lane_numbers() {
  bytes32 a{};
  for (unsigned i = 0; i < 32; ++i) a[i] = static_cast<std::uint8_t>(i);
  return a;
}

// A vector leaves a sequence open when one of its last three bytes is above these limits.
constexpr bytes32 open_limits() {
  bytes32 a{};
  for (auto& b : a) b = 0xff;
  a[29] = utf8_lookup::open_after_third_last;
  a[30] = utf8_lookup::open_after_second_last;
  a[31] = utf8_lookup::open_after_last;
  return a;
}

alignas(32) constexpr bytes32 lanes = lane_numbers();
alignas(32) constexpr bytes32 limits = open_limits();

inline __m256i load(const std::uint8_t* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(static_cast<const void*>(p)));
}
inline void store(std::uint8_t* p, __m256i v) {
  _mm256_storeu_si256(static_cast<__m256i*>(static_cast<void*>(p)), v);
}

// A 16-entry table in each 128-bit lane, for vpshufb.
constexpr bytes32 in_every_lane(const std::array<std::uint8_t, 16>& t) {
  bytes32 a{};
  for (unsigned i = 0; i < 32; ++i) a[i] = t[i % 16];
  return a;
}

alignas(32) constexpr bytes32 prev_high_table = in_every_lane(utf8_lookup::prev_high_table);
alignas(32) constexpr bytes32 prev_low_table = in_every_lane(utf8_lookup::prev_low_table);
alignas(32) constexpr bytes32 cur_high_table = in_every_lane(utf8_lookup::cur_high_table);

// Checks consecutive 32-byte vectors of a stream that starts at a character boundary; ORs the
// error bits of every byte into err_. A sequence still open after the last vector is not an
// error here (utf8_dfa::state_after_checked deals with it).
class checker {
 public:
  void check(__m256i cur) { err_ = _mm256_or_si256(err_, errors(cur)); }

  void check_four(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i any = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
    if (_mm256_movemask_epi8(any) == 0) {
      // ASCII is valid by itself; it is only wrong where the vector before left a sequence open.
      err_ = _mm256_or_si256(err_, _mm256_subs_epu8(prev_, limits_));
      prev_ = d;
      return;
    }
    check(a);
    check(b);
    check(c);
    check(d);
  }

  // A last vector whose input ends before lane 32 (`count` bytes, zeros after): an error in the
  // lanes past the input (a sequence the input leaves open) is not reported.
  void check_partial(__m256i cur, std::size_t count) {
    const __m256i valid = _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(count)), lanes_);
    err_ = _mm256_or_si256(err_, _mm256_and_si256(valid, errors(cur)));
  }

  bool failed() const { return _mm256_testz_si256(err_, err_) == 0; }

 private:
  __m256i errors(__m256i cur) {
    // The 32 bytes starting 16 before `cur`, then shift lane-wise: byte i - 1, i - 2, i - 3.
    const __m256i straddle = _mm256_permute2x128_si256(prev_, cur, 0x21);
    const __m256i p1 = _mm256_alignr_epi8(cur, straddle, 15);
    const __m256i p2 = _mm256_alignr_epi8(cur, straddle, 14);
    const __m256i p3 = _mm256_alignr_epi8(cur, straddle, 13);
    prev_ = cur;
    const __m256i p1_high = _mm256_and_si256(_mm256_srli_epi16(p1, 4), low_nibble_);
    const __m256i p1_low = _mm256_and_si256(p1, low_nibble_);
    const __m256i cur_high = _mm256_and_si256(_mm256_srli_epi16(cur, 4), low_nibble_);
    const __m256i rules =
        _mm256_and_si256(_mm256_and_si256(_mm256_shuffle_epi8(prev_high_, p1_high),
                                          _mm256_shuffle_epi8(prev_low_, p1_low)),
                         _mm256_shuffle_epi8(cur_high_, cur_high));
    // Bit 7 of each: the byte two before is E0..FF, the byte three before is F0..FF.
    const __m256i third = _mm256_subs_epu8(p2, _mm256_set1_epi8(static_cast<char>(0xE0 - 0x80)));
    const __m256i fourth = _mm256_subs_epu8(p3, _mm256_set1_epi8(static_cast<char>(0xF0 - 0x80)));
    const __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth), bit7_);
    return _mm256_xor_si256(rules, must_continue);
  }

  __m256i prev_ = _mm256_setzero_si256();
  __m256i err_ = _mm256_setzero_si256();
  const __m256i lanes_ = load(lanes.data());
  const __m256i limits_ = load(limits.data());
  const __m256i prev_high_ = load(prev_high_table.data());
  const __m256i prev_low_ = load(prev_low_table.data());
  const __m256i cur_high_ = load(cur_high_table.data());
  const __m256i low_nibble_ = _mm256_set1_epi8(0x0f);
  const __m256i bit7_ = _mm256_set1_epi8(static_cast<char>(0x80));
};

// Copies `count` < 32 bytes to the start of a zeroed vector.
inline __m256i load_partial(const std::uint8_t* p, std::size_t count) {
  alignas(32) std::uint8_t block[32] = {};
  std::memcpy(block, p, count);
  return load(block);
}

}  // namespace

std::uint8_t utf8_avx2(std::uint8_t state, const std::uint8_t* data, std::size_t n) noexcept {
  const std::size_t i = utf8_dfa::finish_sequence(state, data, n);
  if (state != utf8_dfa::boundary || i == n) return state;
  const std::uint8_t* p = data + i;
  const std::size_t len = n - i;
  checker c;
  std::size_t j = 0;
  for (; j + 128 <= len; j += 128) {
    c.check_four(load(p + j), load(p + j + 32), load(p + j + 64), load(p + j + 96));
  }
  for (; j + 32 <= len; j += 32) c.check(load(p + j));
  if (j < len) c.check_partial(load_partial(p + j, len - j), len - j);
  if (c.failed()) return utf8_dfa::failed;
  return utf8_dfa::state_after_checked(p, p + len);
}

std::uint8_t unmask_utf8_avx2(std::uint8_t state, std::uint8_t* data, std::size_t n, mask_key key,
                              unsigned phase) noexcept {
  const std::size_t i = utf8_dfa::unmask_finish_sequence(state, data, n, key, phase);
  if (state == utf8_dfa::failed) {
    unmask_avx2(data + i, n - i, key, static_cast<unsigned>((phase + i) & 3));
    return state;
  }
  if (i == n) return state;
  std::uint8_t* p = data + i;
  const std::size_t len = n - i;
  const std::size_t p_phase = phase + i;
  checker c;
  std::size_t j = 0;
  if (len >= 256) {
    // Scalar head up to a 32-byte boundary, so that the stores below never split a line. The
    // head's bytes go to the top of a zeroed vector (ASCII below them), so the vector ends just
    // where the next one begins.
    const std::size_t h = static_cast<std::size_t>(-reinterpret_cast<std::uintptr_t>(p)) & 31;
    if (h != 0) {
      unmask_scalar(p, h, key, static_cast<unsigned>(p_phase & 3));
      alignas(32) std::uint8_t block[32] = {};
      std::memcpy(block + 32 - h, p, h);
      c.check(load(block));
      j = h;
    }
  }
  const unsigned body_phase = static_cast<unsigned>((p_phase + j) & 3);
  const __m256i k = _mm256_set1_epi32(static_cast<int>(key_word(key, body_phase)));
  for (; j + 128 <= len; j += 128) {
    const __m256i a = _mm256_xor_si256(load(p + j), k);
    const __m256i b = _mm256_xor_si256(load(p + j + 32), k);
    const __m256i cc = _mm256_xor_si256(load(p + j + 64), k);
    const __m256i d = _mm256_xor_si256(load(p + j + 96), k);
    store(p + j, a);
    store(p + j + 32, b);
    store(p + j + 64, cc);
    store(p + j + 96, d);
    c.check_four(a, b, cc, d);
  }
  for (; j + 32 <= len; j += 32) {
    const __m256i a = _mm256_xor_si256(load(p + j), k);
    store(p + j, a);
    c.check(a);
  }
  if (j < len) {
    // Everything since the head was whole vectors, so the tail is at body_phase.
    unmask_scalar(p + j, len - j, key, body_phase);
    c.check_partial(load_partial(p + j, len - j), len - j);
  }
  if (c.failed()) return utf8_dfa::failed;
  return utf8_dfa::state_after_checked(p, p + len);
}

}  // namespace shoal::core::kernels
