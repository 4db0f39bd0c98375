// Counting zalloc / zfree (see zlib_memory.hpp). Each block carries its size in a header aligned
// like max_align_t, because zfree is not told the size. Called from the stream's thread only.
#include "core/zlib_memory.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shoal::core {
namespace {

constexpr std::size_t header = alignof(std::max_align_t);
static_assert(header >= sizeof(std::size_t));

}  // namespace

void* zlib_alloc(void* opaque, unsigned items, unsigned size) noexcept {
  const std::size_t n = static_cast<std::size_t>(items) * size;  // both < 2^32: no overflow
  auto* block = static_cast<unsigned char*>(std::malloc(header + n));
  if (block == nullptr) {
    std::fputs("shoal: out of memory in zlib\n", stderr);
    std::abort();
  }
  std::memcpy(block, &n, sizeof n);
  auto* memory = static_cast<zlib_memory*>(opaque);
  memory->bytes += n;
  memory->peak = std::max(memory->peak, memory->bytes);
  return block + header;
}

void zlib_free(void* opaque, void* address) noexcept {
  if (address == nullptr) return;
  auto* block = static_cast<unsigned char*>(address) - header;
  std::size_t n;
  std::memcpy(&n, block, sizeof n);
  static_cast<zlib_memory*>(opaque)->bytes -= n;
  std::free(block);
}

}  // namespace shoal::core
