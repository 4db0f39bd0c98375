// Benchmarks of the core SIMD kernels (core/unmask, core/utf8), each beside a baseline in the same
// run: memcpy of the same bytes, the scalar kernel, and simdjson's UTF-8 validator on the same
// inputs ("ascii" text and "mixed" 1-4-byte text). Buffers are 64-byte aligned, as a connection's
// read buffer is. The fused benchmark unmasks with the all-zero key (legal, RFC 6455 §5.3): the
// kernel does the same work whatever the key, and the payload stays valid from pass to pass.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/unmask.hpp"
#include "core/utf8.hpp"

namespace shoal::core {
namespace {

constexpr std::int64_t sizes[] = {64, 1024, 65536, 1048576};
const char* const kinds[] = {"ascii", "mixed"};

struct aligned_free {
  void operator()(std::uint8_t* p) const { ::operator delete (p, std::align_val_t{64}); }
};
using buffer = std::unique_ptr<std::uint8_t, aligned_free>;

buffer make_buffer(std::size_t n) {
  return buffer(static_cast<std::uint8_t*>(::operator new (n == 0 ? 1 : n, std::align_val_t{64})));
}

void append(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Exactly `n` bytes of valid UTF-8. "ascii": printable text. "mixed": by character, 40% ASCII,
// 25% 2-byte (Latin, Cyrillic), 25% 3-byte (CJK, symbols), 10% 4-byte (emoji); padded with
// spaces where the last character would not fit.
buffer make_text(const std::string& kind, std::size_t n) {
  std::string text;
  std::uint64_t x = 0x2545f4914f6cdd1dull;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  while (text.size() < n) {
    const std::uint64_t r = next();
    const unsigned pick = static_cast<unsigned>(r % 100);
    std::uint32_t cp = static_cast<std::uint32_t>(0x20 + (r >> 8) % 0x5f);
    if (kind == "mixed" && pick >= 40) {
      if (pick < 65)
        cp = static_cast<std::uint32_t>(0xC0 + (r >> 8) % 0x3C0);
      else if (pick < 90)
        cp = static_cast<std::uint32_t>(0x4E00 + (r >> 8) % 0x5000);
      else
        cp = static_cast<std::uint32_t>(0x1F300 + (r >> 8) % 0x300);
    }
    std::string ch;
    append(ch, cp);
    text += text.size() + ch.size() <= n ? ch : std::string(n - text.size(), ' ');
  }
  buffer b = make_buffer(n);
  std::memcpy(b.get(), text.data(), n);
  if (!validate_utf8(b.get(), n)) std::abort();
  return b;
}

void set_bytes(benchmark::State& state, std::size_t n) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n));
}

void bm_memcpy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  buffer src = make_text("ascii", n);
  buffer dst = make_buffer(n);
  for (auto _ : state) {
    std::memcpy(dst.get(), src.get(), n);
    benchmark::DoNotOptimize(dst.get());
    benchmark::ClobberMemory();
  }
  set_bytes(state, n);
}

template <unsigned (*Unmask)(std::uint8_t*, std::size_t, mask_key, unsigned) noexcept>
void bm_unmask(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  buffer data = make_text("ascii", n);
  const mask_key key = {0x1d, 0x72, 0x05, 0x6b};
  for (auto _ : state) {
    benchmark::DoNotOptimize(Unmask(data.get(), n, key, 0));
    benchmark::ClobberMemory();
  }
  set_bytes(state, n);
}

std::uint8_t validate_scalar(const std::uint8_t* p, std::size_t n) {
  return kernels::utf8_scalar(0, p, n);
}
bool validate_dispatched(const std::uint8_t* p, std::size_t n) { return validate_utf8(p, n); }
bool validate_simdjson(const std::uint8_t* p, std::size_t n) {
  return simdjson::validate_utf8(reinterpret_cast<const char*>(p), n);
}

template <typename Validate>
void bm_validate(benchmark::State& state, const std::string& kind, Validate validate) {
  const auto n = static_cast<std::size_t>(state.range(0));
  buffer data = make_text(kind, n);
  for (auto _ : state) benchmark::DoNotOptimize(validate(data.get(), n));
  set_bytes(state, n);
}

void bm_fused(benchmark::State& state, const std::string& kind) {
  const auto n = static_cast<std::size_t>(state.range(0));
  buffer data = make_text(kind, n);
  const mask_key key = {0, 0, 0, 0};
  for (auto _ : state) {
    utf8_validator v;
    unsigned phase = 0;
    benchmark::DoNotOptimize(unmask_validate_utf8(data.get(), n, key, phase, v));
    benchmark::ClobberMemory();
  }
  set_bytes(state, n);
}

void with_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : sizes) b->Arg(n);
}

const bool registered = [] {
  with_sizes(benchmark::RegisterBenchmark("BM_Memcpy", bm_memcpy));
  with_sizes(benchmark::RegisterBenchmark("BM_Unmask_Scalar", bm_unmask<kernels::unmask_scalar>));
  with_sizes(benchmark::RegisterBenchmark("BM_Unmask", bm_unmask<unmask>));
  for (const char* kind : kinds) {
    const std::string k = kind;
    with_sizes(benchmark::RegisterBenchmark(
        ("BM_Utf8_Scalar/" + k).c_str(),
        [k](benchmark::State& s) { bm_validate(s, k, validate_scalar); }));
    with_sizes(benchmark::RegisterBenchmark(("BM_Utf8/" + k).c_str(), [k](benchmark::State& s) {
      bm_validate(s, k, validate_dispatched);
    }));
    with_sizes(benchmark::RegisterBenchmark(
        ("BM_Utf8_Simdjson/" + k).c_str(),
        [k](benchmark::State& s) { bm_validate(s, k, validate_simdjson); }));
    with_sizes(benchmark::RegisterBenchmark(("BM_UnmaskUtf8_Fused/" + k).c_str(),
                                            [k](benchmark::State& s) { bm_fused(s, k); }));
  }
  return true;
}();

}  // namespace
}  // namespace shoal::core
