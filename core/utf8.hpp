// Streaming UTF-8 validation (RFC 3629, as RFC 6455 §8.1 requires for text messages).
// A validator carries its state across fragments and reads, and fails at the first chunk that
// holds an invalid byte, so a bad text message is rejected before its end arrives. Overlong
// forms, surrogates (U+D800..U+DFFF), values above U+10FFFF and stray continuation bytes are
// invalid; so is input that ends inside a sequence (see utf8_validator::complete()).
// SIMD kernels (AVX2, AVX-512) with a scalar fallback are chosen once by CPU features.
// A utf8_validator is a plain value owned by one connection; it is not shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/unmask.hpp"

namespace shoal::core {

class utf8_validator {
 public:
  // Validates the next `n` bytes of the stream. Returns false if they contain an invalid byte;
  // once false, the validator stays failed until reset().
  bool feed(const std::uint8_t* data, std::size_t n) noexcept;

  // True if no error was seen and the input so far ends on a character boundary, i.e. a text
  // message may end here.
  bool complete() const noexcept { return state_ == 0; }
  bool failed() const noexcept { return state_ == failed_state; }
  void reset() noexcept { state_ = 0; }

  // Internal scalar DFA state: 0 = at a boundary; failed_state = error; other values = inside a
  // multi-byte sequence (the kernels in utf8*.cpp define the encoding).
  static constexpr std::uint8_t failed_state = 0xff;
  std::uint8_t state() const noexcept { return state_; }
  void set_state(std::uint8_t s) noexcept { state_ = s; }

 private:
  std::uint8_t state_ = 0;
};

// Validates a whole buffer: true if it is complete, valid UTF-8.
bool validate_utf8(const std::uint8_t* data, std::size_t n) noexcept;

// Unmasks `n` bytes in place (as unmask()) and feeds them to `validator`, in one pass over the
// payload. Updates `phase` as unmask() does. Returns validator.feed()'s answer. The whole buffer
// is unmasked even when validation fails.
bool unmask_validate_utf8(std::uint8_t* data, std::size_t n, mask_key key, unsigned& phase,
                          utf8_validator& validator) noexcept;

// Names of the dispatched kernels: "scalar", "avx2" or "avx512".
const char* utf8_kernel_name() noexcept;

namespace kernels {
// The individual kernels, exposed for tests and benchmarks. utf8_* return the validator state
// (see utf8_dfa.hpp) after `n` more bytes from `state`; unmask_utf8_* also unmask the bytes in
// place first, from mask phase `phase`, and unmask all of them even when validation fails.
// Every kernel returns the same state for the same input. The SIMD ones must only be called
// when the CPU supports them (see cpu_features.hpp).
std::uint8_t utf8_scalar(std::uint8_t state, const std::uint8_t* data, std::size_t n) noexcept;
std::uint8_t utf8_avx2(std::uint8_t state, const std::uint8_t* data, std::size_t n) noexcept;
std::uint8_t utf8_avx512(std::uint8_t state, const std::uint8_t* data, std::size_t n) noexcept;
std::uint8_t unmask_utf8_scalar(std::uint8_t state, std::uint8_t* data, std::size_t n, mask_key key,
                                unsigned phase) noexcept;
std::uint8_t unmask_utf8_avx2(std::uint8_t state, std::uint8_t* data, std::size_t n, mask_key key,
                              unsigned phase) noexcept;
std::uint8_t unmask_utf8_avx512(std::uint8_t state, std::uint8_t* data, std::size_t n, mask_key key,
                                unsigned phase) noexcept;
}  // namespace kernels

}  // namespace shoal::core
