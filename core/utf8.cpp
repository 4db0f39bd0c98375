// UTF-8 validation entry points, the scalar kernels and the run-time dispatch (see utf8.hpp).
// The kernel set is picked once, on first use, from detected_cpu_features() and kept in a
// function-local static (thread-safe initialisation). Every kernel speaks the DFA state of
// utf8_dfa.hpp, so a validator may be fed by any of them.
#include "core/utf8.hpp"

#include <algorithm>

#include "core/cpu_features.hpp"
#include "core/utf8_dfa.hpp"

namespace shoal::core {

namespace kernels {

std::uint8_t utf8_scalar(std::uint8_t state, const std::uint8_t* data, std::size_t n) noexcept {
  return utf8_dfa::run_fast(state, data, n);
}

std::uint8_t unmask_utf8_scalar(std::uint8_t state, std::uint8_t* data, std::size_t n, mask_key key,
                                unsigned phase) noexcept {
  // Two passes per slice small enough to stay in L1, so each byte comes from memory once.
  constexpr std::size_t slice = 4096;
  for (std::size_t i = 0; i < n; i += slice) {
    const std::size_t len = std::min(slice, n - i);
    phase = unmask_scalar(data + i, len, key, phase);
    if (state != utf8_dfa::failed) state = utf8_dfa::run_fast(state, data + i, len);
  }
  return state;
}

}  // namespace kernels

namespace {

struct utf8_dispatch {
  std::uint8_t (*validate)(std::uint8_t, const std::uint8_t*, std::size_t) noexcept;
  std::uint8_t (*unmask_validate)(std::uint8_t, std::uint8_t*, std::size_t, mask_key,
                                  unsigned) noexcept;
  const char* name;
};

utf8_dispatch select_utf8() noexcept {
  const cpu_features& f = detected_cpu_features();
  if (f.avx512) return {kernels::utf8_avx512, kernels::unmask_utf8_avx512, "avx512"};
  if (f.avx2) return {kernels::utf8_avx2, kernels::unmask_utf8_avx2, "avx2"};
  return {kernels::utf8_scalar, kernels::unmask_utf8_scalar, "scalar"};
}

const utf8_dispatch& dispatch() noexcept {
  static const utf8_dispatch d = select_utf8();
  return d;
}

}  // namespace

bool utf8_validator::feed(const std::uint8_t* data, std::size_t n) noexcept {
  if (state_ != utf8_dfa::failed) state_ = dispatch().validate(state_, data, n);
  return state_ != utf8_dfa::failed;
}

bool validate_utf8(const std::uint8_t* data, std::size_t n) noexcept {
  return dispatch().validate(utf8_dfa::boundary, data, n) == utf8_dfa::boundary;
}

bool unmask_validate_utf8(std::uint8_t* data, std::size_t n, mask_key key, unsigned& phase,
                          utf8_validator& validator) noexcept {
  validator.set_state(dispatch().unmask_validate(validator.state(), data, n, key, phase));
  phase = static_cast<unsigned>((phase + n) & 3);
  return !validator.failed();
}

const char* utf8_kernel_name() noexcept { return dispatch().name; }

}  // namespace shoal::core
