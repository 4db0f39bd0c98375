// Internal: what every UTF-8 kernel shares. (1) The scalar state machine (RFC 3629 §4 table):
// state 0 is a character boundary, utf8_validator::failed_state an error, the other states say
// which continuation bytes may come next; SIMD kernels hand heads and tails to it, so every
// kernel agrees on the state a validator carries between chunks; run_fast() is the same machine
// as a shift DFA. (2) The nibble tables of the SIMD "lookup" check, built from a list of rules.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/utf8.hpp"

namespace shoal::core::utf8_dfa {

enum : std::uint8_t {
  boundary = 0,
  need1 = 1,     // one continuation byte 80..BF
  need2 = 2,     // two continuation bytes
  need2_e0 = 3,  // after E0: A0..BF, then one more (no overlongs)
  need2_ed = 4,  // after ED: 80..9F, then one more (no surrogates)
  need3 = 5,     // after F1..F3: three continuation bytes
  need3_f0 = 6,  // after F0: 90..BF, then two more (no overlongs)
  need3_f4 = 7,  // after F4: 80..8F, then two more (nothing above U+10FFFF)
  failed = utf8_validator::failed_state,
};

constexpr std::uint8_t step(std::uint8_t s, std::uint8_t b) noexcept {
  const bool cont = (b & 0xC0) == 0x80;
  switch (s) {
    case boundary:
      if (b < 0x80) return boundary;
      if (b < 0xC2) return failed;  // stray continuation, or overlong C0/C1
      if (b < 0xE0) return need1;
      if (b == 0xE0) return need2_e0;
      if (b == 0xED) return need2_ed;
      if (b < 0xF0) return need2;
      if (b == 0xF0) return need3_f0;
      if (b < 0xF4) return need3;
      if (b == 0xF4) return need3_f4;
      return failed;  // F5..FF never appear in UTF-8
    case need1:
      return cont ? boundary : failed;
    case need2:
      return cont ? need1 : failed;
    case need2_e0:
      return (b >= 0xA0 && b <= 0xBF) ? need1 : failed;
    case need2_ed:
      return (b >= 0x80 && b <= 0x9F) ? need1 : failed;
    case need3:
      return cont ? need2 : failed;
    case need3_f0:
      return (b >= 0x90 && b <= 0xBF) ? need2 : failed;
    case need3_f4:
      return (b >= 0x80 && b <= 0x8F) ? need2 : failed;
    default:
      return failed;
  }
}

// Runs the machine over [data, data + n) from state `s`; stops early on failure.
inline std::uint8_t run(std::uint8_t s, const std::uint8_t* data, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n && s != failed; ++i) s = step(s, data[i]);
  return s;
}

// The same machine as a "shift DFA", for speed: state k lives at bit offset 6k of a 64-bit
// word (failed at offset 48), and shift_rows[b] holds, at offset 6k, the offset of the state
// that byte b leads to from state k. One step is then a shift whose input does not depend on
// the previous step's load: s = shift_rows[b] >> (s & 63).
namespace detail {
constexpr unsigned slot(std::uint8_t s) { return s == failed ? 8u : s; }
constexpr std::array<std::uint64_t, 256> make_shift_rows() {
  std::array<std::uint64_t, 256> rows{};
  for (unsigned b = 0; b < 256; ++b) {
    for (unsigned k = 0; k < 9; ++k) {
      const std::uint8_t from = k == 8 ? std::uint8_t{failed} : static_cast<std::uint8_t>(k);
      const std::uint64_t to = slot(step(from, static_cast<std::uint8_t>(b))) * 6u;
      rows[b] |= to << (6 * k);
    }
  }
  return rows;
}
inline constexpr std::array<std::uint64_t, 256> shift_rows = make_shift_rows();
inline constexpr std::uint64_t failed_offset = 48;
}  // namespace detail

// As run(), skipping ASCII 8 bytes at a time while at a boundary and stepping 16 bytes at a
// time through the shift DFA otherwise.
inline std::uint8_t run_fast(std::uint8_t s, const std::uint8_t* data, std::size_t n) noexcept {
  if (s == failed) return failed;
  std::uint64_t at = s * 6u;
  std::size_t i = 0;
  while (i < n) {
    if (at == 0) {
      while (i + 8 <= n) {
        std::uint64_t w;
        std::memcpy(&w, data + i, 8);
        if ((w & 0x8080808080808080ull) != 0) break;
        i += 8;
      }
    }
    const std::size_t stop = n - i < 16 ? n : i + 16;
    for (; i < stop; ++i) at = detail::shift_rows[data[i]] >> (at & 63);
    at &= 63;
    if (at == detail::failed_offset) return failed;
  }
  return static_cast<std::uint8_t>(at / 6);
}

// Finishes a sequence an earlier chunk began, so that a SIMD pass can start at a boundary: runs
// the machine until it reaches a boundary, fails or runs out of input (at most 3 bytes).
// Returns the number of bytes consumed; `s` is updated.
inline std::size_t finish_sequence(std::uint8_t& s, const std::uint8_t* data,
                                   std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n && s != boundary && s != failed) s = step(s, data[i++]);
  return i;
}

// As finish_sequence(), unmasking each byte (mask phase `phase` at data[0]) before its step.
inline std::size_t unmask_finish_sequence(std::uint8_t& s, std::uint8_t* data, std::size_t n,
                                          mask_key key, unsigned phase) noexcept {
  std::size_t i = 0;
  while (i < n && s != boundary && s != failed) {
    data[i] = static_cast<std::uint8_t>(data[i] ^ key[(phase + i) & 3]);
    s = step(s, data[i++]);
  }
  return i;
}

// The state after [begin, end), given that it starts at a boundary and a SIMD pass found no
// error in it: the only thing SIMD leaves open is a last sequence cut off by `end`, whose lead
// byte is among the last three bytes; rerun the machine from that lead byte.
inline std::uint8_t state_after_checked(const std::uint8_t* begin,
                                        const std::uint8_t* end) noexcept {
  for (const std::uint8_t* p = end; p != begin && end - p < 3;) {
    --p;
    if (*p >= 0xC0) return run(boundary, p, static_cast<std::size_t>(end - p));
  }
  return boundary;
}

}  // namespace shoal::core::utf8_dfa

// The "lookup" check of Keiser & Lemire ("Validating UTF-8 In Less Than One Instruction Per
// Byte", 2021). For each byte, the high and low nibbles of the byte before it and the high
// nibble of the byte itself index three 16-entry tables; the AND of the three entries has a bit
// set for each rule below that the pair breaks. Bit 7 instead marks "a continuation after a
// continuation", which is right exactly when the byte two before is E0..FF or three before is
// F0..FF; a kernel XORs that expectation into bit 7. A sequence cut off at the end of the input
// is the one error the pair check cannot see (see utf8_dfa::state_after_checked).
namespace shoal::core::utf8_lookup {

struct rule {
  std::uint8_t bit;
  std::uint16_t prev_high;  // set of high nibbles of the previous byte (bit i = nibble i)
  std::uint16_t prev_low;   // set of low nibbles of the previous byte
  std::uint16_t cur_high;   // set of high nibbles of this byte
};

constexpr std::uint16_t nibbles(unsigned first, unsigned last) {
  return static_cast<std::uint16_t>(((2u << last) - 1) & ~((1u << first) - 1));
}
constexpr std::uint16_t any = 0xffff;

// clang-format off
inline constexpr rule rules[] = {
    // A lead byte not followed by a continuation byte.
    {0x01, nibbles(0xC, 0xF), any,               nibbles(0x0, 0x7) | nibbles(0xC, 0xF)},
    // A continuation byte after ASCII.
    {0x02, nibbles(0x0, 0x7), any,               nibbles(0x8, 0xB)},
    // E0 80..9F: an overlong 3-byte form.
    {0x04, nibbles(0xE, 0xE), nibbles(0x0, 0x0), nibbles(0x8, 0x9)},
    // ED A0..BF: a surrogate, U+D800..U+DFFF.
    {0x08, nibbles(0xE, 0xE), nibbles(0xD, 0xD), nibbles(0xA, 0xB)},
    // C0, C1 and a continuation: an overlong 2-byte form.
    {0x10, nibbles(0xC, 0xC), nibbles(0x0, 0x1), nibbles(0x8, 0xB)},
    // F4 90..BF, or F5..FF 90..BF: above U+10FFFF.
    {0x20, nibbles(0xF, 0xF), nibbles(0x4, 0xF), nibbles(0x9, 0xB)},
    // F0 80..8F: an overlong 4-byte form; F5..FF 80..8F: above U+10FFFF.
    {0x40, nibbles(0xF, 0xF), nibbles(0x0, 0x0) | nibbles(0x5, 0xF), nibbles(0x8, 0x8)},
    // A continuation after a continuation (see above).
    {0x80, nibbles(0x8, 0xB), any,               nibbles(0x8, 0xB)},
};
// clang-format on

enum class column { prev_high, prev_low, cur_high };

constexpr std::array<std::uint8_t, 16> make_table(column c) {
  std::array<std::uint8_t, 16> t{};
  for (unsigned nib = 0; nib < 16; ++nib) {
    for (const rule& r : rules) {
      const std::uint16_t set = c == column::prev_high  ? r.prev_high
                                : c == column::prev_low ? r.prev_low
                                                        : r.cur_high;
      if ((set >> nib) & 1u) t[nib] = static_cast<std::uint8_t>(t[nib] | r.bit);
    }
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 16> prev_high_table = make_table(column::prev_high);
inline constexpr std::array<std::uint8_t, 16> prev_low_table = make_table(column::prev_low);
inline constexpr std::array<std::uint8_t, 16> cur_high_table = make_table(column::cur_high);

// A byte at the end of a block starts a sequence the block does not finish when it is above
// these limits (last, second-to-last, third-to-last byte): C0.., E0.., F0...
inline constexpr std::uint8_t open_after_last = 0xBF;
inline constexpr std::uint8_t open_after_second_last = 0xDF;
inline constexpr std::uint8_t open_after_third_last = 0xEF;

}  // namespace shoal::core::utf8_lookup
