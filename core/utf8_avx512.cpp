// AVX-512 UTF-8 kernels (see utf8.hpp, utf8_dfa.hpp): the Keiser-Lemire lookup check on 64-byte
// blocks, four blocks per iteration with an ASCII fast path; the fused kernel unmasks blocks in
// registers, stores them and checks the same registers. Head and tail blocks use byte-masked
// loads and stores, so every access lies inside [data, data + n). Pure functions; any thread.
#include <immintrin.h>

#include <array>
#include <cstdint>

#include "core/utf8_dfa.hpp"

namespace shoal::core::kernels {
namespace {

using bytes64 = std::array<std::uint8_t, 64>;

// Index vectors for vpermt2b over (previous block, this block): lane i takes byte i - k.
constexpr bytes64 shifted_by(unsigned k) {
  bytes64 a{};
  for (unsigned i = 0; i < 64; ++i) a[i] = static_cast<std::uint8_t>(i + 64 - k);
  return a;
}

constexpr bytes64 lane_numbers() {
  bytes64 a{};
  for (unsigned i = 0; i < 64; ++i) a[i] = static_cast<std::uint8_t>(i);
  return a;
}

// A block leaves a sequence open when one of its last three bytes is above these limits.
constexpr bytes64 open_limits() {
  bytes64 a{};
  for (auto& b : a) b = 0xff;
  a[61] = utf8_lookup::open_after_third_last;
  a[62] = utf8_lookup::open_after_second_last;
  a[63] = utf8_lookup::open_after_last;
  return a;
}

// 64-entry tables for vpermb: indexed by a byte's top 6 bits (by_high) or low 6 bits (by_low).
constexpr bytes64 by_high(const std::array<std::uint8_t, 16>& t) {
  bytes64 a{};
  for (unsigned i = 0; i < 64; ++i) a[i] = t[i >> 2];
  return a;
}
constexpr bytes64 by_low(const std::array<std::uint8_t, 16>& t) {
  bytes64 a{};
  for (unsigned i = 0; i < 64; ++i) a[i] = t[i % 16];
  return a;
}

alignas(64) constexpr bytes64 shift1 = shifted_by(1);
alignas(64) constexpr bytes64 shift2 = shifted_by(2);
alignas(64) constexpr bytes64 shift3 = shifted_by(3);
alignas(64) constexpr bytes64 lanes = lane_numbers();
alignas(64) constexpr bytes64 limits = open_limits();
alignas(64) constexpr bytes64 prev_high_table = by_high(utf8_lookup::prev_high_table);
alignas(64) constexpr bytes64 prev_low_table = by_low(utf8_lookup::prev_low_table);
alignas(64) constexpr bytes64 cur_high_table = by_high(utf8_lookup::cur_high_table);

inline __m512i load(const bytes64& a) { return _mm512_load_si512(a.data()); }

// vpermb: lane i gets table[index[i] & 63]. (Spelt with an all-ones mask: GCC 12's unmasked
// intrinsic trips -Wmaybe-uninitialized on its own internals.)
inline __m512i lookup(__m512i table, __m512i index) {
  return _mm512_maskz_permutexvar_epi8(~__mmask64{0}, index, table);
}

inline __mmask64 first_lanes(std::size_t count) {
  return _bzhi_u64(~std::uint64_t{0}, static_cast<unsigned>(count));
}

inline __m512i key_vector(mask_key key, std::size_t phase) {
  return _mm512_set1_epi32(static_cast<int>(key_word(key, static_cast<unsigned>(phase & 3))));
}

// Checks consecutive 64-byte blocks of a stream that starts at a character boundary; ORs the
// error bits of every byte into err_. A sequence still open after the last block is not an
// error here (utf8_dfa::state_after_checked deals with it).
class checker {
 public:
  void check(__m512i cur) { err_ = _mm512_or_si512(err_, errors(cur)); }

  void check_four(__m512i a, __m512i b, __m512i c, __m512i d) {
    const __m512i any = _mm512_or_si512(_mm512_or_si512(a, b), _mm512_or_si512(c, d));
    if (_mm512_movepi8_mask(any) == 0) {
      // ASCII is valid by itself; it is only wrong where the block before left a sequence open.
      err_ = _mm512_or_si512(err_, _mm512_subs_epu8(prev_, limits_));
      prev_ = d;
      return;
    }
    check(a);
    check(b);
    check(c);
    check(d);
  }

  // A last block whose input ends before lane 64: lanes outside `valid` are not input, and an
  // error there (a sequence the input leaves open) is not reported.
  void check_partial(__m512i cur, __mmask64 valid) {
    err_ = _mm512_or_si512(err_, _mm512_maskz_mov_epi8(valid, errors(cur)));
  }

  bool failed() const { return _mm512_test_epi8_mask(err_, err_) != 0; }

 private:
  __m512i errors(__m512i cur) {
    const __m512i p1 = _mm512_permutex2var_epi8(prev_, shift1_, cur);
    const __m512i p2 = _mm512_permutex2var_epi8(prev_, shift2_, cur);
    const __m512i p3 = _mm512_permutex2var_epi8(prev_, shift3_, cur);
    prev_ = cur;
    // vpermb reads only the low 6 bits of each index: a byte shifted right by 2 within its
    // 16-bit lane indexes by its top 6 bits, and a byte itself by its low 6 bits.
    const __m512i rules = _mm512_and_si512(
        _mm512_and_si512(lookup(prev_high_, _mm512_srli_epi16(p1, 2)), lookup(prev_low_, p1)),
        lookup(cur_high_, _mm512_srli_epi16(cur, 2)));
    // Bit 7 of each: the byte two before is E0..FF, the byte three before is F0..FF.
    const __m512i third = _mm512_subs_epu8(p2, _mm512_set1_epi8(static_cast<char>(0xE0 - 0x80)));
    const __m512i fourth = _mm512_subs_epu8(p3, _mm512_set1_epi8(static_cast<char>(0xF0 - 0x80)));
    const __m512i must_continue = _mm512_and_si512(_mm512_or_si512(third, fourth), bit7_);
    return _mm512_xor_si512(rules, must_continue);
  }

  __m512i prev_ = _mm512_setzero_si512();
  __m512i err_ = _mm512_setzero_si512();
  const __m512i shift1_ = load(shift1);
  const __m512i shift2_ = load(shift2);
  const __m512i shift3_ = load(shift3);
  const __m512i limits_ = load(limits);
  const __m512i prev_high_ = load(prev_high_table);
  const __m512i prev_low_ = load(prev_low_table);
  const __m512i cur_high_ = load(cur_high_table);
  const __m512i bit7_ = _mm512_set1_epi8(static_cast<char>(0x80));
};

}  // namespace

std::uint8_t utf8_avx512(std::uint8_t state, const std::uint8_t* data, std::size_t n) noexcept {
  const std::size_t i = utf8_dfa::finish_sequence(state, data, n);
  if (state != utf8_dfa::boundary || i == n) return state;
  const std::uint8_t* p = data + i;
  const std::size_t len = n - i;
  checker c;
  std::size_t j = 0;
  for (; j + 256 <= len; j += 256) {
    c.check_four(_mm512_loadu_si512(p + j), _mm512_loadu_si512(p + j + 64),
                 _mm512_loadu_si512(p + j + 128), _mm512_loadu_si512(p + j + 192));
  }
  for (; j + 64 <= len; j += 64) c.check(_mm512_loadu_si512(p + j));
  if (j < len) {
    const __mmask64 m = first_lanes(len - j);
    c.check_partial(_mm512_maskz_loadu_epi8(m, p + j), m);
  }
  if (c.failed()) return utf8_dfa::failed;
  return utf8_dfa::state_after_checked(p, p + len);
}

std::uint8_t unmask_utf8_avx512(std::uint8_t state, std::uint8_t* data, std::size_t n, mask_key key,
                                unsigned phase) noexcept {
  const std::size_t i = utf8_dfa::unmask_finish_sequence(state, data, n, key, phase);
  if (state == utf8_dfa::failed) {
    unmask_avx512(data + i, n - i, key, static_cast<unsigned>((phase + i) & 3));
    return state;
  }
  if (i == n) return state;
  std::uint8_t* p = data + i;
  const std::size_t len = n - i;
  const std::size_t p_phase = phase + i;
  checker c;
  std::size_t j = 0;
  if (len >= 256) {
    // Masked head up to a 64-byte boundary, so that the stores below never split a line. The
    // head's bytes move to the top lanes of a block (zeros, i.e. ASCII, below them), so the
    // block ends just where the next one begins.
    const std::size_t h = static_cast<std::size_t>(-reinterpret_cast<std::uintptr_t>(p)) & 63;
    if (h != 0) {
      const __mmask64 m = first_lanes(h);
      const __m512i plain =
          _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p), key_vector(key, p_phase));
      _mm512_mask_storeu_epi8(p, m, plain);
      const __m512i from = _mm512_add_epi8(load(lanes), _mm512_set1_epi8(static_cast<char>(h)));
      c.check(_mm512_maskz_permutexvar_epi8(~first_lanes(64 - h), from, plain));
      j = h;
    }
  }
  const __m512i k = key_vector(key, p_phase + j);
  for (; j + 256 <= len; j += 256) {
    const __m512i a = _mm512_xor_si512(_mm512_loadu_si512(p + j), k);
    const __m512i b = _mm512_xor_si512(_mm512_loadu_si512(p + j + 64), k);
    const __m512i cc = _mm512_xor_si512(_mm512_loadu_si512(p + j + 128), k);
    const __m512i d = _mm512_xor_si512(_mm512_loadu_si512(p + j + 192), k);
    _mm512_storeu_si512(p + j, a);
    _mm512_storeu_si512(p + j + 64, b);
    _mm512_storeu_si512(p + j + 128, cc);
    _mm512_storeu_si512(p + j + 192, d);
    c.check_four(a, b, cc, d);
  }
  for (; j + 64 <= len; j += 64) {
    const __m512i a = _mm512_xor_si512(_mm512_loadu_si512(p + j), k);
    _mm512_storeu_si512(p + j, a);
    c.check(a);
  }
  if (j < len) {
    const __mmask64 m = first_lanes(len - j);
    const __m512i a = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p + j), k);
    _mm512_mask_storeu_epi8(p + j, m, a);
    c.check_partial(a, m);
  }
  if (c.failed()) return utf8_dfa::failed;
  return utf8_dfa::state_after_checked(p, p + len);
}

}  // namespace shoal::core::kernels
