// CPU features that select the SIMD kernels (masking, UTF-8): what the CPU implements AND what
// the OS saves on a context switch (XCR0 via xgetbv), since AVX state the OS does not save is
// unusable. Detected once, on first call; the result is immutable, so any thread may read it.
// Each flag names the whole set of extensions the matching *_avx2.cpp / *_avx512.cpp file is
// compiled with (see core/CMakeLists.txt), because the compiler may emit any of them anywhere.
#pragma once

namespace shoal::core {

struct cpu_features {
  bool sse2 = false;    // SSE2 (every x86-64 CPU)
  bool avx2 = false;    // AVX2 + BMI1 + BMI2, YMM state enabled by the OS
  bool avx512 = false;  // AVX-512 F/BW/VL/VBMI + AVX2 + BMI1/2, ZMM and opmask state enabled
};

// The features of the CPU this process runs on.
const cpu_features& detected_cpu_features() noexcept;

}  // namespace shoal::core
