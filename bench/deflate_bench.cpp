// Benchmarks of permessage-deflate (core/deflater, core/inflater): the cost per message of
// compressing and inflating JSON-like text and random bytes, 64 B .. 64 KiB, with and without
// context takeover (without: the broadcast mode, which resets the compressor per message), a
// small takeover window, level 1, and memcpy of the same bytes as the baseline. Each case cycles
// through 64 distinct messages. Counter ratio = compressed / original size.
// Single-threaded; zlib level 6, memLevel 8, window 15 unless the name says otherwise.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/deflater.hpp"
#include "core/inflater.hpp"

namespace shoal::core {
namespace {

using bytes = std::vector<std::uint8_t>;

// Pub/sub deliveries as the gateway sends them: JSON objects with a topic, a sequence number and
// a small price record, repeated up to `n` bytes.
bytes json_payload(std::size_t n, std::uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) {
    s += R"({"op":"msg","topic":"prices.)" + std::to_string(rng() % 20) + R"(","seq":)" +
         std::to_string(100000 + rng() % 900000) + R"(,"data":{"bid":)" +
         std::to_string(rng() % 100000) + "." + std::to_string(rng() % 100) + R"(,"ask":)" +
         std::to_string(rng() % 100000) + R"(,"venue":"x)" + std::to_string(rng() % 7) + "\"}}";
  }
  s.resize(n);
  return bytes(s.begin(), s.end());
}

bytes random_payload(std::size_t n, std::uint32_t seed = 11) {
  std::mt19937 rng(seed);
  bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

void report(benchmark::State& state, std::size_t message, std::size_t compressed) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message));
  state.counters["ratio"] = static_cast<double>(compressed) / static_cast<double>(message);
}

// A lap of distinct messages of one kind and size, so context takeover sees a stream of similar
// messages rather than one message repeated.
constexpr std::size_t lap = 64;
using payload_fn = bytes (*)(std::size_t, std::uint32_t);

std::vector<bytes> lap_of(payload_fn make, std::size_t n) {
  std::vector<bytes> messages;
  for (std::uint32_t k = 0; k < lap; ++k) messages.push_back(make(n, 1000 + k));
  return messages;
}

void deflate_messages(benchmark::State& state, payload_fn make, deflater_settings settings) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const std::vector<bytes> messages = lap_of(make, n);
  deflater d(settings);
  bytes out(deflater::max_compressed_size(n));
  std::size_t compressed = 0;
  std::size_t k = 0;
  for (auto _ : state) {
    compressed += d.compress(messages[k], out).value_or(0);
    benchmark::DoNotOptimize(out.data());
    k = k + 1 == lap ? 0 : k + 1;
  }
  report(state, n, compressed / std::max<std::size_t>(state.iterations(), 1));
}

void inflate_messages(benchmark::State& state, payload_fn make, bool takeover) {
  // The deflater's sequence is replayed in a loop, with a fresh context per lap for takeover.
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const std::vector<bytes> messages = lap_of(make, n);
  deflater d({15, 8, 6, takeover});
  std::vector<bytes> compressed;
  std::size_t total = 0;
  for (const bytes& m : messages) {
    bytes c(deflater::max_compressed_size(n));
    c.resize(d.compress(m, c).value_or(0));
    total += c.size();
    compressed.push_back(std::move(c));
  }
  auto i = std::make_unique<inflater>(inflater_settings{15, takeover});
  bytes out;
  out.reserve(n);
  std::size_t k = 0;
  for (auto _ : state) {
    if (k == lap) {
      state.PauseTiming();
      if (takeover) i = std::make_unique<inflater>(inflater_settings{15, true});
      k = 0;
      state.ResumeTiming();
    }
    out.clear();
    if (i->feed(compressed[k++], true, out, n) != inflate_status::done) {
      state.SkipWithError("inflate failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  report(state, n, total / lap);
}

void BM_Deflate_Json(benchmark::State& state) {
  deflate_messages(state, json_payload, {15, 8, 6, false});
}
void BM_Deflate_JsonTakeover(benchmark::State& state) {
  deflate_messages(state, json_payload, {15, 8, 6, true});
}
// A small compressor (window 10, memLevel 4: 17.8 KiB) for per-connection takeover.
void BM_Deflate_JsonTakeoverSmallWindow(benchmark::State& state) {
  deflate_messages(state, json_payload, {10, 4, 6, true});
}
// The shared compressor at a small memLevel: zlib clears a hash table of 2^(memLevel+8) bytes at
// every reset, i.e. every message without context takeover.
void BM_Deflate_JsonMemLevel4(benchmark::State& state) {
  deflate_messages(state, json_payload, {15, 4, 6, false});
}
void BM_Deflate_JsonMemLevel1(benchmark::State& state) {
  deflate_messages(state, json_payload, {15, 1, 6, false});
}
void BM_Deflate_JsonLevel1(benchmark::State& state) {
  deflate_messages(state, json_payload, {15, 8, 1, false});
}
void BM_Deflate_Random(benchmark::State& state) {
  deflate_messages(state, random_payload, {15, 8, 6, false});
}
void BM_Inflate_Json(benchmark::State& state) { inflate_messages(state, json_payload, false); }
void BM_Inflate_JsonTakeover(benchmark::State& state) { inflate_messages(state, json_payload, true); }
void BM_Inflate_Random(benchmark::State& state) { inflate_messages(state, random_payload, false); }

// Baseline: copying the message once, what an uncompressed send costs at least.
void BM_Deflate_MemcpyBaseline(benchmark::State& state) {
  const bytes message = json_payload(static_cast<std::size_t>(state.range(0)), 7);
  bytes out(message.size());
  for (auto _ : state) {
    std::memcpy(out.data(), message.data(), message.size());
    benchmark::DoNotOptimize(out.data());
  }
  report(state, message.size(), message.size());
}

#define SHOAL_DEFLATE_SIZES ->RangeMultiplier(4)->Range(64, 64 << 10)
BENCHMARK(BM_Deflate_Json) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Deflate_JsonTakeover) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Deflate_JsonMemLevel4) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Deflate_JsonMemLevel1) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Deflate_JsonTakeoverSmallWindow) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Deflate_JsonLevel1) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Deflate_Random) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Deflate_MemcpyBaseline) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Inflate_Json) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Inflate_JsonTakeover) SHOAL_DEFLATE_SIZES;
BENCHMARK(BM_Inflate_Random) SHOAL_DEFLATE_SIZES;
#undef SHOAL_DEFLATE_SIZES

}  // namespace
}  // namespace shoal::core
