// AVX-512 masking kernel (see unmask.hpp): a masked head up to a 64-byte boundary (long buffers
// only), 256 bytes per iteration in four 64-byte vectors, then 64 at a time, then one masked tail.
// Byte-masked loads and stores (AVX-512BW) touch only the lanes whose bit is set, so every
// access lies inside [data, data + n) whatever the length or alignment. Pure; any thread.
#include <immintrin.h>

#include <cstdint>

#include "core/unmask.hpp"

namespace shoal::core::kernels {
namespace {

// The first `count` lanes, count <= 64.
inline __mmask64 first_lanes(std::size_t count) {
  return _bzhi_u64(~std::uint64_t{0}, static_cast<unsigned>(count));
}

inline void xor_masked(std::uint8_t* p, __mmask64 m, __m512i k) {
  _mm512_mask_storeu_epi8(p, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p), k));
}

inline __m512i key_vector(mask_key key, std::size_t phase) {
  return _mm512_set1_epi32(static_cast<int>(key_word(key, static_cast<unsigned>(phase & 3))));
}

}  // namespace

unsigned unmask_avx512(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept {
  phase &= 3;
  std::size_t i = 0;
  if (n >= 256) {
    // Aligned stores never split a cache line; the head is one masked store.
    i = static_cast<std::size_t>(-reinterpret_cast<std::uintptr_t>(data)) & 63;
    if (i != 0) xor_masked(data, first_lanes(i), key_vector(key, phase));
  }
  const __m512i k = key_vector(key, phase + i);
  for (; i + 256 <= n; i += 256) {
    std::uint8_t* p = data + i;
    const __m512i a = _mm512_loadu_si512(p);
    const __m512i b = _mm512_loadu_si512(p + 64);
    const __m512i c = _mm512_loadu_si512(p + 128);
    const __m512i d = _mm512_loadu_si512(p + 192);
    _mm512_storeu_si512(p, _mm512_xor_si512(a, k));
    _mm512_storeu_si512(p + 64, _mm512_xor_si512(b, k));
    _mm512_storeu_si512(p + 128, _mm512_xor_si512(c, k));
    _mm512_storeu_si512(p + 192, _mm512_xor_si512(d, k));
  }
  for (; i + 64 <= n; i += 64) {
    _mm512_storeu_si512(data + i, _mm512_xor_si512(_mm512_loadu_si512(data + i), k));
  }
  if (i < n) xor_masked(data + i, first_lanes(n - i), k);
  return static_cast<unsigned>((phase + n) & 3);
}

}  // namespace shoal::core::kernels
