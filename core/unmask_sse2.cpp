// SSE2 masking kernel (see unmask.hpp): 64 bytes per iteration in four 16-byte vectors, then
// 16 at a time, then the scalar kernel for the last < 16 bytes. Every load and store lies
// inside [data, data + n). Pure function; safe from any thread.
#include <emmintrin.h>

#include "core/unmask.hpp"

namespace shoal::core::kernels {
namespace {
inline __m128i* at(std::uint8_t* p) { return static_cast<__m128i*>(static_cast<void*>(p)); }
}  // namespace

unsigned unmask_sse2(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept {
  phase &= 3;
  const __m128i k = _mm_set1_epi32(static_cast<int>(key_word(key, phase)));
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m128i* p = at(data + i);
    const __m128i a = _mm_loadu_si128(p);
    const __m128i b = _mm_loadu_si128(p + 1);
    const __m128i c = _mm_loadu_si128(p + 2);
    const __m128i d = _mm_loadu_si128(p + 3);
    _mm_storeu_si128(p, _mm_xor_si128(a, k));
    _mm_storeu_si128(p + 1, _mm_xor_si128(b, k));
    _mm_storeu_si128(p + 2, _mm_xor_si128(c, k));
    _mm_storeu_si128(p + 3, _mm_xor_si128(d, k));
  }
  for (; i + 16 <= n; i += 16) {
    __m128i* p = at(data + i);
    _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), k));
  }
  // i is a multiple of 16, so the tail starts at the same phase.
  unmask_scalar(data + i, n - i, key, phase);
  return static_cast<unsigned>((phase + n) & 3);
}

}  // namespace shoal::core::kernels
