// Internal: the scalar UTF-8 state machine shared by every UTF-8 kernel (RFC 3629 §4 table).
// State 0 is a character boundary; utf8_validator::failed_state is an error; the other states say
// which continuation bytes may come next. SIMD kernels hand their tails to this machine, so
// every kernel agrees on the state a validator carries between chunks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/utf8.hpp"

namespace shoal::core::utf8_dfa {

enum : std::uint8_t {
  boundary = 0,
  need1 = 1,       // one continuation byte 80..BF
  need2 = 2,       // two continuation bytes
  need2_e0 = 3,    // after E0: A0..BF, then one more (no overlongs)
  need2_ed = 4,    // after ED: 80..9F, then one more (no surrogates)
  need3 = 5,       // after F1..F3: three continuation bytes
  need3_f0 = 6,    // after F0: 90..BF, then two more (no overlongs)
  need3_f4 = 7,    // after F4: 80..8F, then two more (nothing above U+10FFFF)
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
    case need1: return cont ? boundary : failed;
    case need2: return cont ? need1 : failed;
    case need2_e0: return (b >= 0xA0 && b <= 0xBF) ? need1 : failed;
    case need2_ed: return (b >= 0x80 && b <= 0x9F) ? need1 : failed;
    case need3: return cont ? need2 : failed;
    case need3_f0: return (b >= 0x90 && b <= 0xBF) ? need2 : failed;
    case need3_f4: return (b >= 0x80 && b <= 0x8F) ? need2 : failed;
    default: return failed;
  }
}

// Runs the machine over [data, data + n) from state `s`; stops early on failure.
inline std::uint8_t run(std::uint8_t s, const std::uint8_t* data, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n && s != failed; ++i) s = step(s, data[i]);
  return s;
}

}  // namespace shoal::core::utf8_dfa
