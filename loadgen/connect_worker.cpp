// Connect scenario worker; one thread. Connections are started in the loop as earlier ones
// settle, never more than opt.concurrency at once; a message from the server on an idle
// connection counts as an error (the endpoint should send nothing unasked). With --drop-all-at
// the loop wakes at the deadline (start of the window + the offset, the same instant in every
// thread and process) and closes every open connection in one go.
#include "loadgen/connect_worker.hpp"

#include <algorithm>
#include <cstdio>

#include "loadgen/pacer.hpp"

namespace shoal::loadgen {
namespace {
constexpr std::int64_t idle_poll_ns = 50'000'000;
}  // namespace

connect_worker::connect_worker(const options& opt, run_control& ctl, unsigned index)
    : opt_(opt),
      ctl_(ctl),
      live_(ctl.counters[index]),
      index_(index),
      count_(share_of(opt.connections, opt.threads, index)),
      opened_(count_, false) {}

void connect_worker::top_up() {
  while (loop_.size() < count_ && in_flight_ < opt_.concurrency) {
    if (loop_.size() == 0) first_start_ns_ = now_ns();
    ++in_flight_;
    const std::uint64_t g = opt_.first_connection + index_ + std::uint64_t{loop_.size()} * opt_.threads;
    loop_.connect_one(opt_.targets.connection(g), opt_.tokens.token_for(g));
  }
}

void connect_worker::run() {
  bool ready_sent = false;
  std::int64_t p99_at = 0;
  for (;;) {
    live_.publish_p99(handshake_, now_ns(), p99_at);
    const run_phase ph = ctl_.phase.load(std::memory_order_acquire);
    if (ph == run_phase::done) break;
    if (ph == run_phase::warmup) top_up();
    if (!ready_sent && settled_ == count_) {
      ready_sent = true;
      ctl_.ready.fetch_add(1, std::memory_order_release);
    }
    std::int64_t timeout = in_flight_ > 0 ? 1'000'000 : idle_poll_ns;
    if (ph == run_phase::running && opt_.drop_all_at_s > 0 && !drop_done_) {
      const std::int64_t at = ctl_.start_ns.load(std::memory_order_relaxed) +
                              static_cast<std::int64_t>(opt_.drop_all_at_s * 1e9);
      const std::int64_t now = now_ns();
      if (now >= at) drop_all(at);
      else timeout = std::min(timeout, at - now);
    }
    loop_.poll(timeout, *this);
  }
  loop_.shutdown_all();
}

void connect_worker::drop_all(std::int64_t deadline) {
  drop_done_ = true;
  for (std::uint32_t id = 0; id < loop_.size(); ++id) {
    ws_client& c = loop_.client(id);
    if (!c.is_open()) continue;
    c.drop();
    ++dropped_;
  }
  drop_spread_ns_ = static_cast<std::uint64_t>(std::max<std::int64_t>(now_ns() - deadline, 0));
  live_.open.store(live_.open.load(std::memory_order_relaxed) - dropped_, std::memory_order_relaxed);
}

void connect_worker::on_open(ws_client& c) {
  const std::int64_t now = now_ns();
  handshake_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - c.started_ns(), 0)));
  opened_[c.id()] = true;
  --in_flight_;
  ++settled_;
  settled_ns_ = now;
  live_counters::bump(live_.open);
  live_counters::bump(live_.received);  // handshakes completed, for the progress line's rate
}

void connect_worker::on_message(ws_client&, core::opcode, std::span<const std::uint8_t>) {
  ++errors_;
  live_counters::bump(live_.errors);
}

void connect_worker::on_closed(ws_client& c, std::string_view why) {
  if (opened_[c.id()]) {
    ++closed_after_open_;
    live_.open.store(live_.open.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  } else {
    --in_flight_;
    ++settled_;
    settled_ns_ = now_ns();
  }
  if (failed_ == 0)
    std::fprintf(stderr, "shoal-loadgen: connection closed: %.*s\n", static_cast<int>(why.size()), why.data());
  ++failed_;
  live_counters::bump(live_.failed);
}

void connect_worker::collect(run_report& r) const {
  r.connections += static_cast<std::uint64_t>(std::count(opened_.begin(), opened_.end(), true));
  r.connect_errors += failed_ + loop_.unanswered();
  for (const auto& [reason, count] : loop_.not_opened()) r.open_failures[reason] += count;
  r.closed_while_held += closed_after_open_;
  r.dropped += dropped_;
  r.drop_spread_ns = std::max(r.drop_spread_ns, drop_spread_ns_);
  r.errors += errors_;
  r.latency.merge(handshake_);
  if (settled_ns_ > first_start_ns_)
    r.connect_s = std::max(r.connect_s, static_cast<double>(settled_ns_ - first_start_ns_) / 1e9);
}

}  // namespace shoal::loadgen
