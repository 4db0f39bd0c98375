// Masking kernels (RFC 6455 §5.3): XOR a payload with the 4-byte masking key, in place.
// Masking and unmasking are the same operation. Kernels for scalar, SSE2, AVX2 and AVX-512 are
// chosen once, at first use, by CPU features. Every kernel reads and writes exactly
// [data, data + n): no byte outside the buffer is touched, whatever the length or alignment.
// Thread-safe: the kernels are pure functions; the dispatch pointer is set once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace shoal::core {

using mask_key = std::array<std::uint8_t, 4>;

// XORs data[i] with key[(phase + i) % 4] for i in [0, n); returns (phase + n) % 4, the phase of
// the byte that follows. `phase` is the offset of data[0] within the frame payload, mod 4, so a
// payload that arrives in pieces is unmasked piece by piece with the returned phase.
unsigned unmask(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept;

// The name of the kernel unmask() dispatches to: "scalar", "sse2", "avx2" or "avx512".
const char* unmask_kernel_name() noexcept;

namespace kernels {
// The key as a little-endian 32-bit word that starts at `phase`: byte i is key[(phase + i) % 4].
// A vector of these words masks bytes whose phase at lane 0 is `phase`.
constexpr std::uint32_t key_word(mask_key key, unsigned phase) noexcept {
  std::uint32_t w = 0;
  for (unsigned i = 0; i < 4; ++i) w |= static_cast<std::uint32_t>(key[(phase + i) & 3]) << (8 * i);
  return w;
}

// The individual kernels, same contract as unmask(); exposed for tests and benchmarks.
// The SIMD ones must only be called when the CPU supports them (see cpu_features.hpp).
unsigned unmask_scalar(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept;
unsigned unmask_sse2(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept;
unsigned unmask_avx2(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept;
unsigned unmask_avx512(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept;
}  // namespace kernels

}  // namespace shoal::core
