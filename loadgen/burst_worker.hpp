// The burst scenario's worker thread. Global connection g (worker g % threads) is, in order: a hot
// subscriber (g < subscribers), a quiet subscriber (quiet_subscribers per quiet topic), a hot
// publisher, and last the one quiet publisher (when there are quiet topics). Hot publishers send
// --pipeline publishes each, back to back, never waiting for an answer: the socket is kept fed
// (up to pipeline_window bytes queued) and every write carries as many frames as it takes. The
// quiet publisher paces --quiet-rate over the quiet topics for the whole window. Every publish
// carries an id (publisher << 32 | n), so acks and refusals are matched to it exactly once.
// Subscriber g (hot and quiet) connects to url_plan::subscriber(g), publisher p (hot 0..P-1,
// quiet P) to url_plan::publisher(p). Connection g presents token_plan::token_for(g).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/burst_report.hpp"
#include "loadgen/client_loop.hpp"
#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/pacer.hpp"
#include "loadgen/run_control.hpp"
#include "loadgen/worker.hpp"

namespace shoal::loadgen {

class burst_worker final : public worker, private ws_handler {
 public:
  burst_worker(const options& opt, run_control& ctl, unsigned index);
  void run() override;
  void collect(run_report& r) const override;
  const std::vector<std::uint64_t>* confirmed_per_topic() const override { return &confirmed_; }

 private:
  enum class role : std::uint8_t { hot_subscriber, quiet_subscriber, hot_publisher, quiet_publisher };
  struct conn {
    role kind = role::hot_subscriber;
    bool opened = false;
    bool settled = false;
    bool confirmed = false;            // subscriber: "subscribed" came
    std::uint32_t topic = 0;           // 0 hot, 1.. quiet (subscribers)
    std::uint64_t publisher = 0;       // publisher index: hot 0..P-1, quiet P
    std::uint64_t next = 0;            // publisher: publishes sent so far
    std::vector<bool> answered;        // publisher: by n, an ack or refusal came
    std::uint64_t base_seq = 0;        // subscriber: the topic's seq when subscribed
    std::uint64_t last_seq = 0;        // subscriber: highest seq seen or announced
    std::vector<bool> seen;            // subscriber: seq - base_seq - 1 delivered
    subscriber_tally tally;
  };

  void on_open(ws_client& c) override;
  void on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) override;
  void on_closed(ws_client& c, std::string_view why) override;
  void on_delivery(conn& s, std::string_view text, std::int64_t now);
  void on_answer(conn& s, std::string_view text, bool ack);
  // Tops up every hot publisher's queue; true if one could take more right away.
  bool feed_publishers();
  void publish(ws_client& c, std::uint32_t topic, std::int64_t stamp);
  void settle(conn& s);
  void count_error(std::string_view what);

  const options& opt_;
  run_control& ctl_;
  live_counters& live_;
  unsigned index_;
  std::uint64_t count_;
  std::vector<conn> conns_;
  std::vector<std::uint32_t> hot_publishers_;  // ids of this worker's hot publishers
  std::int64_t quiet_publisher_ = -1;          // its id here, or -1
  std::vector<std::uint64_t> confirmed_;       // confirmed subscribers per topic (this worker)
  std::vector<std::uint64_t> acked_per_topic_;
  client_loop loop_;
  histogram latency_;
  pacer quiet_pacer_;
  std::string message_;                        // scratch for one publish
  run_phase phase_ = run_phase::warmup;
  std::uint64_t settled_ = 0, failed_ = 0, errors_ = 0;
  std::uint64_t to_send_ = 0;                  // hot publishes still to send (this worker)
  std::uint64_t expected_ = 0;                 // acks x subscribers (live, for the drain)
  publish_tally hot_, quiet_;
};

// Done: every pipelined publish sent and answered, every expected delivery received or announced.
bool burst_drained(const run_control& ctl);

}  // namespace shoal::loadgen
