// The pub/sub scenario's worker thread. Global connection g (worker g % threads) is subscriber g
// when g < subscribers (topic lg.<g % topics>), else publisher g - subscribers. Subscribers check
// per-topic order (seq strictly increasing), count gap notices and record end-to-end latency
// (receipt - the publish's "t"); publishers publish at the worker's share of --rate, or in bursts.
// Expected deliveries are counted from acks: acked publish x confirmed subscribers of its topic.
// Slow scenario: subscriber g is slow when floor((g+1)*share) > floor(g*share); slow ones stop
// reading for the window and read again in the drain, and are counted apart from the fast ones
// (expected counts fast subscribers only). Subscriber g connects to url_plan::subscriber(g),
// publisher p to url_plan::publisher(p): with publishers on one node and subscribers on others
// the latency is a cross-node fan-out's, since "t" and the receipt are read from one clock.
// Connection g presents token_plan::token_for(g).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/client_loop.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/pacer.hpp"
#include "loadgen/run_control.hpp"
#include "loadgen/worker.hpp"

namespace shoal::loadgen {

class pubsub_worker final : public worker, private ws_handler {
 public:
  pubsub_worker(const options& opt, run_control& ctl, unsigned index);
  void run() override;
  void collect(run_report& r) const override;
  const std::vector<std::uint64_t>* confirmed_per_topic() const override { return &confirmed_; }

 private:
  struct conn {
    bool publisher = false;
    bool slow = false;             // slow scenario: stops reading during the window
    bool opened = false;
    bool settled = false;
    std::uint32_t topic = 0;       // subscriber: its topic
    std::uint64_t publisher_index = 0;
    std::uint64_t counter = 0;     // publisher: messages sent
    std::uint64_t awaiting = 0;    // publisher, burst mode: acks still to come
    std::uint64_t last_seq = 0;    // subscriber: highest seq seen (or covered by a gap)
  };

  void on_open(ws_client& c) override;
  void on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) override;
  void on_closed(ws_client& c, std::string_view why) override;
  void settle(conn& s);
  void publish(ws_client& c, std::int64_t stamp);
  void send_burst(ws_client& c);
  void start_sending();
  void pace(std::int64_t now);
  void count_error(std::string_view what);

  const options& opt_;
  run_control& ctl_;
  live_counters& live_;
  unsigned index_;
  std::uint64_t count_;
  std::vector<conn> conns_;
  std::vector<std::uint32_t> publishers_;  // ids of this worker's publishers
  std::vector<std::uint64_t> confirmed_;   // confirmed subscribers per topic (this worker)
  client_loop loop_;
  histogram latency_;
  pacer pacer_;
  std::string message_;                    // scratch for one publish
  run_phase phase_ = run_phase::warmup;
  std::size_t next_publisher_ = 0;
  std::uint64_t settled_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t sent_ = 0, acked_ = 0, delivered_ = 0, expected_ = 0, gaps_ = 0;
  std::uint64_t order_violations_ = 0, errors_ = 0;
  // slow scenario: the slow subscribers' own counts (not in the fast figures above)
  std::uint64_t slow_confirmed_ = 0, slow_delivered_ = 0, slow_gaps_ = 0, slow_gap_notices_ = 0;
  std::uint64_t slow_closed_1008_ = 0, slow_closed_other_ = 0;
};

// Drained: every publish acknowledged, every expected delivery received or announced as a gap.
bool pubsub_drained(const run_control& ctl);

}  // namespace shoal::loadgen
