// AVX2 masking kernel (see unmask.hpp): a scalar head up to a 32-byte boundary (long buffers
// only), 128 bytes per iteration in four 32-byte vectors, then 32 and 16 at a time, then the
// scalar kernel for the last < 16 bytes. Every load and store lies inside [data, data + n).
// Pure function; safe from any thread.
#include <immintrin.h>

#include <cstdint>

#include "core/unmask.hpp"

namespace shoal::core::kernels {
namespace {
inline __m256i* at(std::uint8_t* p) { return static_cast<__m256i*>(static_cast<void*>(p)); }
inline __m128i* at16(std::uint8_t* p) { return static_cast<__m128i*>(static_cast<void*>(p)); }
}  // namespace

unsigned unmask_avx2(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept {
  phase &= 3;
  std::size_t i = 0;
  if (n >= 256) {
    // Aligned stores never split a cache line; the head costs at most 31 scalar bytes.
    i = static_cast<std::size_t>(-reinterpret_cast<std::uintptr_t>(data)) & 31;
    unmask_scalar(data, i, key, phase);
  }
  const unsigned body_phase = static_cast<unsigned>((phase + i) & 3);
  const __m256i k = _mm256_set1_epi32(static_cast<int>(key_word(key, body_phase)));
  for (; i + 128 <= n; i += 128) {
    __m256i* p = at(data + i);
    const __m256i a = _mm256_loadu_si256(p);
    const __m256i b = _mm256_loadu_si256(p + 1);
    const __m256i c = _mm256_loadu_si256(p + 2);
    const __m256i d = _mm256_loadu_si256(p + 3);
    _mm256_storeu_si256(p, _mm256_xor_si256(a, k));
    _mm256_storeu_si256(p + 1, _mm256_xor_si256(b, k));
    _mm256_storeu_si256(p + 2, _mm256_xor_si256(c, k));
    _mm256_storeu_si256(p + 3, _mm256_xor_si256(d, k));
  }
  for (; i + 32 <= n; i += 32) {
    __m256i* p = at(data + i);
    _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), k));
  }
  if (i + 16 <= n) {
    __m128i* p = at16(data + i);
    _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), _mm256_castsi256_si128(k)));
    i += 16;
  }
  // Everything since the head was a multiple of 16 bytes, so the tail is at body_phase.
  unmask_scalar(data + i, n - i, key, body_phase);
  return static_cast<unsigned>((phase + n) & 3);
}

}  // namespace shoal::core::kernels
