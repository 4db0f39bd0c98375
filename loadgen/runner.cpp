// Main-thread orchestration of a run; see runner.hpp. Phases advance only here; workers follow
// run_control::phase. The progress line shows per-second deltas of the workers' live counters.
#include "loadgen/runner.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

#include "loadgen/pacer.hpp"
#include "loadgen/proc_stats.hpp"

namespace shoal::loadgen {
namespace {

struct totals {
  std::uint64_t p99_ns = 0;  // the worst worker's p99 so far
  std::uint64_t sent = 0, received = 0, acked = 0, expected = 0, gaps = 0, errors = 0, open = 0,
                failed = 0;
};

totals sum(const run_control& ctl) {
  totals t;
  for (const live_counters& c : ctl.counters) {
    t.sent += c.sent.load(std::memory_order_relaxed);
    t.received += c.received.load(std::memory_order_relaxed);
    t.acked += c.acked.load(std::memory_order_relaxed);
    t.expected += c.expected.load(std::memory_order_relaxed);
    t.gaps += c.gaps.load(std::memory_order_relaxed);
    t.errors += c.errors.load(std::memory_order_relaxed);
    t.open += c.open.load(std::memory_order_relaxed);
    t.failed += c.failed.load(std::memory_order_relaxed);
    t.p99_ns = std::max(t.p99_ns, c.p99_ns.load(std::memory_order_relaxed));
  }
  return t;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

bool run_scenario(const options& opt, const worker_factory& make, const drained_fn& drained,
                  const std::atomic<bool>& interrupted, run_report& report,
                  const drained_fn& window_done, const start_gate& gate) {
  const bool progress = opt.progress || ::isatty(STDERR_FILENO) == 1;
  if (opt.server_pid > 0) report.server_rss_before = read_rss_bytes(opt.server_pid);
  run_control ctl(opt.threads);
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < opt.threads; ++i) workers.push_back(make(ctl, i));
  for (unsigned i = 0; i < opt.threads; ++i) threads.emplace_back([&w = *workers[i]] { w.run(); });

  auto finish = [&](bool ok) {
    ctl.phase.store(run_phase::done, std::memory_order_release);
    for (auto& t : threads) t.join();
    for (const auto& w : workers) w->collect(report);
    report.threads = opt.threads;
    return ok;
  };

  // Warm-up: every connection open (or failed) and, for pub/sub, every subscription confirmed.
  const std::int64_t warm_start = now_ns();
  std::int64_t next_line = warm_start + 1'000'000'000;
  while (ctl.ready.load(std::memory_order_acquire) < opt.threads) {
    const std::int64_t now = now_ns();
    if (interrupted.load()) {
      report.interrupted = true;
      std::fprintf(stderr, "shoal-loadgen: interrupted during warm-up\n");
      return finish(false);
    }
    if (now - warm_start > static_cast<std::int64_t>(opt.warmup_timeout_s * 1e9)) {
      std::fprintf(stderr, "shoal-loadgen: warm-up did not finish in %.0f s\n", opt.warmup_timeout_s);
      return finish(false);
    }
    if (now >= next_line && progress) {
      const totals t = sum(ctl);
      std::fprintf(stderr, "[warm-up %5.1fs] open %llu failed %llu  p99 %.0f us (worst thread)\n",
                   static_cast<double>(now - warm_start) / 1e9,
                   static_cast<unsigned long long>(t.open), static_cast<unsigned long long>(t.failed),
                   static_cast<double>(t.p99_ns) / 1e3);
      next_line += 1'000'000'000;
    }
    sleep_ms(5);
  }
  if (sum(ctl).open == 0) {
    std::fprintf(stderr, "shoal-loadgen: no connection could be opened\n");
    return finish(false);
  }
  // Pub/sub: who listens to what, published to the workers with the phase change below.
  for (const auto& w : workers) {
    if (const auto* per_topic = w->confirmed_per_topic()) {
      ctl.subscribers_per_topic.resize(per_topic->size(), 0);
      for (std::size_t i = 0; i < per_topic->size(); ++i) ctl.subscribers_per_topic[i] += (*per_topic)[i];
    }
  }

  // The shared instant itself, not when this process woke up: every process's deadlines
  // (connect --drop-all-at) count from it.
  std::int64_t gated_at = 0;
  if (gate) {
    const std::int64_t at = gate();
    if (at == 0) {
      std::fprintf(stderr, "shoal-loadgen: the run was called off before its window began\n");
      return finish(false);
    }
    const timespec until{static_cast<time_t>(at / 1'000'000'000), static_cast<long>(at % 1'000'000'000)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    }
    gated_at = at;
  }
  const auto cpu_start = opt.server_pid > 0 ? read_cpu_seconds(opt.server_pid) : std::nullopt;
  if (opt.server_pid > 0 && !cpu_start)
    std::fprintf(stderr, "shoal-loadgen: cannot read /proc/%d/stat; no server CPU figures\n", opt.server_pid);
  const std::int64_t start = gated_at > 0 ? gated_at : now_ns();
  ctl.start_ns.store(start, std::memory_order_relaxed);
  ctl.phase.store(run_phase::running, std::memory_order_release);

  // The measured window.
  const auto window_ns = static_cast<std::int64_t>(opt.duration_s * 1e9);
  std::int64_t end = start + window_ns;
  totals last{};
  std::int64_t last_ns = start;
  next_line = start + 1'000'000'000;
  // The timeline: one point per second, and one for the part of a second at the end.
  totals last_point = sum(ctl);
  const auto add_point = [&](std::int64_t at) {
    const totals t = sum(ctl);
    report.timeline.push_back({static_cast<double>(at - start) / 1e9, t.sent - last_point.sent,
                               t.received - last_point.received, t.p99_ns});
    last_point = t;
  };
  std::int64_t next_point = start + 1'000'000'000;
  for (;;) {
    const std::int64_t now = now_ns();
    if (interrupted.load()) {
      report.interrupted = true;
      end = now;
      break;
    }
    if (now >= end) break;
    if (window_done && window_done(ctl)) {
      end = now;
      break;
    }
    if (now >= next_point) {
      add_point(now);
      next_point += 1'000'000'000;
    }
    if (now >= next_line && progress) {
      const totals t = sum(ctl);
      const double dt = static_cast<double>(now - last_ns) / 1e9;
      std::fprintf(stderr, "[%5.1fs] sent %llu (%.0f/s) recv %llu (%.0f/s) open %llu failed %llu errors %llu  p99 %.0f us (worst thread)\n",
                   static_cast<double>(now - start) / 1e9, static_cast<unsigned long long>(t.sent),
                   static_cast<double>(t.sent - last.sent) / dt, static_cast<unsigned long long>(t.received),
                   static_cast<double>(t.received - last.received) / dt,
                   static_cast<unsigned long long>(t.open), static_cast<unsigned long long>(t.failed),
                   static_cast<unsigned long long>(t.errors), static_cast<double>(t.p99_ns) / 1e3);
      last = t;
      last_ns = now;
      next_line += 1'000'000'000;
    }
    sleep_ms(static_cast<int>(std::min<std::int64_t>(10, (end - now) / 1'000'000 + 1)));
  }
  if (report.timeline.empty() || now_ns() - start > static_cast<std::int64_t>(report.timeline.back().t_s * 1e9) + 50'000'000)
    add_point(now_ns());
  ctl.phase.store(run_phase::draining, std::memory_order_release);
  report.duration_s = static_cast<double>(end - start) / 1e9;
  if (cpu_start) {
    const auto cpu_end = read_cpu_seconds(opt.server_pid);
    const auto rss = read_rss_bytes(opt.server_pid);
    if (cpu_end) report.server = server_usage{*cpu_end - *cpu_start, rss.value_or(0)};
  }

  // Drain: collect what is still in flight, bounded; a second Ctrl-C is not needed to stop.
  const std::int64_t drain_end = now_ns() + static_cast<std::int64_t>(opt.drain_timeout_s * 1e9);
  while (now_ns() < drain_end && !drained(ctl)) sleep_ms(5);
  return finish(true);
}

}  // namespace shoal::loadgen
