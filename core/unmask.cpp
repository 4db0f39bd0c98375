// Scalar masking kernel and the run-time dispatch of unmask() (see unmask.hpp).
#include "core/unmask.hpp"

#include <cstring>

namespace shoal::core {

namespace kernels {
unsigned unmask_scalar(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept {
  phase &= 3;
  std::size_t i = 0;
  // Word loop: the key rotated to the phase repeats every 4 bytes, so 8 bytes at a time.
  std::uint8_t rotated[8];
  for (unsigned k = 0; k < 8; ++k) rotated[k] = key[(phase + k) & 3];
  std::uint64_t word_key;
  std::memcpy(&word_key, rotated, 8);
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= word_key;
    std::memcpy(data + i, &w, 8);
  }
  for (; i < n; ++i) data[i] ^= rotated[i & 7];
  return static_cast<unsigned>((phase + n) & 3);
}
}  // namespace kernels

unsigned unmask(std::uint8_t* data, std::size_t n, mask_key key, unsigned phase) noexcept {
  return kernels::unmask_scalar(data, n, key, phase);
}

const char* unmask_kernel_name() noexcept { return "scalar"; }

}  // namespace shoal::core
