// Everything the main thread and the worker threads share during a run, and nothing else: the
// run phase, the start of the measured window, and each worker's live counters. These are the
// only cross-thread atomics in loadgen. Each counter has exactly one writer (its worker), which
// bumps it with a relaxed load+store; the main thread only reads them (progress, drain).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

namespace shoal::loadgen {

enum class run_phase : int {
  warmup,    // connecting (and subscribing); workers report ready when settled
  running,   // the measured window: send
  draining,  // window over: send nothing new, collect what is in flight
  done,      // stop and close everything
};

struct alignas(64) live_counters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};  // echoes, or deliveries
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> expected{0};
  std::atomic<std::uint64_t> gaps{0};
  std::atomic<std::uint64_t> refused{0};   // publishes answered with an error
  std::atomic<std::uint64_t> to_send{0};   // burst: pipelined publishes not yet sent
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> open{0};      // connections open now
  std::atomic<std::uint64_t> failed{0};    // connections that failed or were closed
  std::atomic<std::uint64_t> p99_ns{0};    // this worker's p99 so far, refreshed about once a second

  // Single-writer increment: no locked instruction needed.
  // Refreshes p99_ns from the worker's own histogram when a second has passed since `last`.
  template <class Histogram>
  void publish_p99(const Histogram& h, std::int64_t now, std::int64_t& last) noexcept {
    if (now - last < 1'000'000'000) return;
    last = now;
    p99_ns.store(h.percentile(99), std::memory_order_relaxed);
  }

  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  // Counts something the server should not have sent (in `own_count`, the worker's own count,
  // and in `errors`); prints the first one so a run that goes wrong says how.
  void unexpected(std::uint64_t& own_count, std::string_view what) noexcept {
    if (own_count == 0)
      std::fprintf(stderr, "shoal-loadgen: unexpected from server: %.*s\n",
                   static_cast<int>(std::min<std::size_t>(what.size(), 200)), what.data());
    ++own_count;
    bump(errors);
  }
};

struct run_control {
  explicit run_control(unsigned workers) : counters(workers) {}

  std::atomic<run_phase> phase{run_phase::warmup};
  // Workers that have settled in warm-up (release: what a worker wrote before it counted itself
  // is visible to the main thread after an acquire load that sees the count).
  std::atomic<unsigned> ready{0};
  // Start of the measured window (CLOCK_MONOTONIC ns); written before phase becomes running.
  std::atomic<std::int64_t> start_ns{0};
  std::vector<live_counters> counters;  // one per worker
  // Pub/sub: confirmed subscribers per topic, written by the main thread after every worker is
  // ready and before phase becomes running (release); read-only for workers afterwards.
  std::vector<std::uint64_t> subscribers_per_topic;
};

}  // namespace shoal::loadgen
