// The latency probe of connect --drop-all-at: --probe connections to the run's first URL (an
// echo endpoint), run by one thread of the parent process and never dropped. Through the
// measured window (the hold) each sends a 16-byte message (its send time and a sequence number)
// once the echo of the previous one is back, at most one per probe_interval_ns, and records the
// round trip; what it records is in the report's probe object. A reply that is not the message
// sent, a probe connection that closes, or an echo still missing after the drain is the probe's
// error (the run fails).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/client_loop.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/run_control.hpp"
#include "loadgen/worker.hpp"

namespace shoal::loadgen {

inline constexpr std::int64_t probe_interval_ns = 1'000'000;

class echo_probe final : public worker, private ws_handler {
 public:
  // Worker 0 of `ctl` (the probe's own run, with one worker thread).
  echo_probe(const options& opt, run_control& ctl);
  void run() override;
  void collect(run_report& r) const override;

 private:
  struct slot {
    std::int64_t sent_ns = 0;   // of the message awaited, or of the last one
    std::uint64_t seq = 0;      // of the message awaited, or of the last one
    bool waiting = false;       // a message is out and its echo not back
    bool opened = false;
  };

  void on_open(ws_client& c) override;
  void on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) override;
  void on_closed(ws_client& c, std::string_view why) override;
  // Sends the next message on every probe whose echo is back and whose interval has passed;
  // returns the ns until the next one is due (or `idle` when none is).
  std::int64_t send_due(std::int64_t now, std::int64_t idle);
  void fail(std::string why);

  const options& opt_;
  run_control& ctl_;
  live_counters& live_;
  std::uint64_t count_;
  client_loop loop_;
  std::vector<slot> slots_;
  std::uint64_t settled_ = 0;
  std::uint64_t next_seq_ = 1;
  std::int64_t drop_ns_ = 0;    // the drop's instant, known once the window began
  run_phase phase_ = run_phase::warmup;
  histogram round_trips_;
  histogram during_drop_;
  std::string error_;           // the first failure
};

}  // namespace shoal::loadgen
