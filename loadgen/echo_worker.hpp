// The echo scenario's worker thread: its share of the connections, on one client_loop. Closed
// loop keeps `inflight` messages outstanding per connection; open loop sends its share of the
// total rate on a pacer, stamping each message with its intended send time (bytes 0..8) and its
// actual send time (bytes 8..16, when the payload has room), both CLOCK_MONOTONIC ns. Its
// connection i is the run's connection first_connection + index + i * threads, which picks the
// connection's URL (url_plan::connection) and token (token_plan::token_for).
#pragma once

#include <cstdint>
#include <vector>

#include "loadgen/client_loop.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/pacer.hpp"
#include "loadgen/run_control.hpp"
#include "loadgen/worker.hpp"

namespace shoal::loadgen {

class echo_worker final : public worker, private ws_handler {
 public:
  echo_worker(const options& opt, run_control& ctl, unsigned index);
  void run() override;
  void collect(run_report& r) const override;

 private:
  void on_open(ws_client& c) override;
  void on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) override;
  void on_closed(ws_client& c, std::string_view why) override;
  void send_one(ws_client& c, std::int64_t intended, std::int64_t now);
  void start_sending(std::int64_t now);
  void pace(std::int64_t now);

  const options& opt_;
  run_control& ctl_;
  live_counters& live_;
  unsigned index_;
  std::uint64_t count_;          // connections of this worker
  bool open_loop_;
  client_loop loop_;
  std::vector<std::uint8_t> payload_;
  std::vector<bool> opened_;     // per connection: reached open (counted in live_.open)
  histogram latency_;            // from the intended send time
  histogram uncorrected_;        // from the actual send time (open loop only)
  pacer pacer_;
  run_phase phase_ = run_phase::warmup;
  std::size_t next_client_ = 0;  // round robin for open loop
  std::uint64_t settled_ = 0;    // connections opened or failed
  std::uint64_t failed_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t errors_ = 0;
};

// Drained: every echo sent has come back.
bool echo_drained(const run_control& ctl);

}  // namespace shoal::loadgen
