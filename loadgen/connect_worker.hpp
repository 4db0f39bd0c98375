// The connect scenario's worker thread: opens its share of --connections with at most
// --concurrency handshakes in flight (so the server's accept backlog is not overrun), records
// each handshake's latency (connect() start to a verified 101), and then holds the connections
// idle through the window (idle scale). Ready once every connection has opened or failed. Its
// connection i is the run's connection first_connection + index + i * threads, which picks the
// connection's URL (url_plan::connection) and token (token_plan::token_for). With --token-in
// message, "opened" means "authed": the handshake latency includes the auth round trip. With
// --drop-all-at, every connection still open at start of the window + the offset is closed at
// once, without a Close frame (ws_client::drop).
#pragma once

#include <cstdint>
#include <vector>

#include "loadgen/client_loop.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/run_control.hpp"
#include "loadgen/worker.hpp"

namespace shoal::loadgen {

class connect_worker final : public worker, private ws_handler {
 public:
  connect_worker(const options& opt, run_control& ctl, unsigned index);
  void run() override;
  void collect(run_report& r) const override;

 private:
  void on_open(ws_client& c) override;
  void on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) override;
  void on_closed(ws_client& c, std::string_view why) override;
  void top_up();
  // Drops every open connection; `deadline` is when the drop was due.
  void drop_all(std::int64_t deadline);

  const options& opt_;
  run_control& ctl_;
  live_counters& live_;
  unsigned index_;
  std::uint64_t count_;            // connections of this worker
  client_loop loop_;
  histogram handshake_;            // ns, per opened connection
  std::vector<bool> opened_;
  std::uint64_t in_flight_ = 0;    // started, neither open nor failed
  std::uint64_t settled_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t closed_after_open_ = 0;
  std::int64_t first_start_ns_ = 0;
  std::int64_t settled_ns_ = 0;    // when the last connection settled
  std::uint64_t errors_ = 0;
  bool drop_done_ = false;
  std::uint64_t dropped_ = 0;
  std::uint64_t drop_spread_ns_ = 0;  // the deadline to the last close
};

}  // namespace shoal::loadgen
