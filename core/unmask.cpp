// Scalar masking kernel and the run-time dispatch of unmask() (see unmask.hpp). The kernel is
// picked once, on the first call, from detected_cpu_features() and kept in a function-local
// static (thread-safe initialisation); afterwards unmask() is one indirect call.
#include "core/unmask.hpp"

#include <cstring>

#include "core/cpu_features.hpp"

namespace shoal::core {

namespace kernels {
unsigned unmask_scalar(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept {
  phase &= 3;
  // The key rotated to the phase repeats every 4 bytes, so XOR 8 bytes at a time.
  const std::uint32_t k32 = key_word(key, phase);
  const std::uint64_t k64 = (static_cast<std::uint64_t>(k32) << 32) | k32;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= k64;
    std::memcpy(data + i, &w, 8);
  }
  for (; i < n; ++i) data[i] ^= static_cast<std::uint8_t>(k32 >> (8 * (i & 3)));
  return static_cast<unsigned>((phase + n) & 3);
}
}  // namespace kernels

namespace {

using unmask_fn = unsigned (*)(std::uint8_t*, std::size_t, mask_key, unsigned) noexcept;

struct unmask_dispatch {
  unmask_fn fn;
  const char* name;
};

unmask_dispatch select_unmask() noexcept {
  const cpu_features& f = detected_cpu_features();
  if (f.avx512) return {kernels::unmask_avx512, "avx512"};
  if (f.avx2) return {kernels::unmask_avx2, "avx2"};
  if (f.sse2) return {kernels::unmask_sse2, "sse2"};
  return {kernels::unmask_scalar, "scalar"};
}

const unmask_dispatch& dispatch() noexcept {
  static const unmask_dispatch d = select_unmask();
  return d;
}

}  // namespace

unsigned unmask(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept {
  return dispatch().fn(data, n, key, phase);
}

const char* unmask_kernel_name() noexcept { return dispatch().name; }

}  // namespace shoal::core
