// Run-time CPU feature detection for kernel dispatch (see cpu_features.hpp): cpuid for what
// the CPU implements, xgetbv for the register state the OS has enabled. The result is computed
// once in a function-local static (thread-safe initialisation) and never changes.
#include "core/cpu_features.hpp"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace shoal::core {
namespace {

#if defined(__x86_64__) || defined(__i386__)
bool bit(std::uint32_t reg, unsigned n) { return ((reg >> n) & 1u) != 0; }

// XCR0: which register state the OS saves and restores. Only valid when OSXSAVE is set.
std::uint64_t read_xcr0() {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

cpu_features detect() {
  cpu_features f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return f;
  const unsigned max_leaf = eax;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return f;
  f.sse2 = bit(edx, 26);
  const bool osxsave = bit(ecx, 27);
  const bool avx = bit(ecx, 28);
  if (!osxsave || !avx || max_leaf < 7) return f;

  const std::uint64_t xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;              // SSE (bit 1) and AVX (bit 2) state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM0-15 high, ZMM16-31

  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool bmi1 = bit(ebx, 3);
  const bool avx2 = bit(ebx, 5);
  const bool bmi2 = bit(ebx, 8);
  const bool avx512f = bit(ebx, 16);
  const bool avx512bw = bit(ebx, 30);
  const bool avx512vl = bit(ebx, 31);
  const bool avx512vbmi = bit(ecx, 1);

  f.avx2 = os_ymm && avx2 && bmi1 && bmi2;
  f.avx512 = f.avx2 && os_zmm && avx512f && avx512bw && avx512vl && avx512vbmi;
  return f;
}
#else
cpu_features detect() { return cpu_features{}; }
#endif

}  // namespace

const cpu_features& detected_cpu_features() noexcept {
  static const cpu_features features = detect();
  return features;
}

}  // namespace shoal::core
