// Echo scenario worker; one thread. Latency = receipt - the stamp in bytes 0..8, so in open loop
// a message delayed by the sender (or by a stalled server) carries its delay into the histogram.
#include "loadgen/echo_worker.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace shoal::loadgen {
namespace {
constexpr std::int64_t idle_poll_ns = 50'000'000;  // how often an idle loop looks at the phase
constexpr std::uint64_t max_sends_per_pass = 1024;  // open loop: let reads in between
}  // namespace

echo_worker::echo_worker(const options& opt, run_control& ctl, unsigned index)
    : opt_(opt),
      ctl_(ctl),
      live_(ctl.counters[index]),
      index_(index),
      count_(share_of(opt.connections, opt.threads, index)),
      open_loop_(opt.rate > 0),
      payload_(opt.size, static_cast<std::uint8_t>('x')),
      opened_(count_, false) {}

void echo_worker::run() {
  loop_.connect_all(
      [this](std::uint32_t id) -> const ws_target& {
        return opt_.targets.connection(opt_.first_connection + index_ + std::uint64_t{id} * opt_.threads);
      },
      count_,
      [this](std::uint32_t id) {
        return opt_.tokens.token_for(opt_.first_connection + index_ + std::uint64_t{id} * opt_.threads);
      });
  bool ready_sent = false;
  std::int64_t p99_at = 0;
  for (;;) {
    live_.publish_p99(latency_, now_ns(), p99_at);
    const run_phase ph = ctl_.phase.load(std::memory_order_acquire);
    if (ph == run_phase::done) break;
    if (!ready_sent && settled_ == count_) {
      ready_sent = true;
      ctl_.ready.fetch_add(1, std::memory_order_release);
    }
    std::int64_t now = now_ns();
    if (ph == run_phase::running && phase_ == run_phase::warmup) {
      phase_ = run_phase::running;
      start_sending(now);
    } else if (ph == run_phase::draining) {
      phase_ = run_phase::draining;
    }
    std::int64_t timeout = idle_poll_ns;
    if (phase_ == run_phase::running && open_loop_) {
      pace(now);
      loop_.flush(*this);
      now = now_ns();
      timeout = std::clamp<std::int64_t>(pacer_.next_due() - now, 0, idle_poll_ns);
    }
    loop_.poll(timeout, *this);
  }
  loop_.shutdown_all();
}

void echo_worker::start_sending(std::int64_t now) {
  if (open_loop_) {
    const double share = opt_.rate * static_cast<double>(count_) / static_cast<double>(opt_.connections);
    if (share > 0) pacer_ = pacer(ctl_.start_ns.load(std::memory_order_relaxed), share);
    else open_loop_ = false;
    return;
  }
  for (std::uint32_t id = 0; id < count_; ++id) {
    ws_client& c = loop_.client(id);
    if (!c.is_open()) continue;
    for (std::uint64_t k = 0; k < opt_.inflight; ++k) send_one(c, now, now);
  }
  loop_.flush(*this);
}

void echo_worker::pace(std::int64_t now) {
  for (std::uint64_t n = 0; n < max_sends_per_pass && pacer_.due(now); ++n) {
    const std::int64_t intended = pacer_.take();
    // Next open connection, round robin; if none is open the message is not sent.
    for (std::uint64_t tries = 0; tries < count_; ++tries) {
      ws_client& c = loop_.client(static_cast<std::uint32_t>(next_client_));
      next_client_ = (next_client_ + 1) % count_;
      if (c.is_open()) {
        send_one(c, intended, now);
        break;
      }
    }
  }
}

void echo_worker::send_one(ws_client& c, std::int64_t intended, std::int64_t now) {
  std::memcpy(payload_.data(), &intended, sizeof intended);
  if (payload_.size() >= 16) std::memcpy(payload_.data() + 8, &now, sizeof now);
  loop_.send(c, core::opcode::binary, payload_);
  ++sent_;
  live_counters::bump(live_.sent);
}

void echo_worker::on_open(ws_client& c) {
  opened_[c.id()] = true;
  ++settled_;
  live_counters::bump(live_.open);
  // A connection that opens late (after the window began) joins the closed loop.
  if (phase_ == run_phase::running && !open_loop_) {
    const std::int64_t now = now_ns();
    for (std::uint64_t k = 0; k < opt_.inflight; ++k) send_one(c, now, now);
  }
}

void echo_worker::on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) {
  const std::int64_t now = now_ns();
  if (op != core::opcode::binary || payload.size() != opt_.size || payload.size() < 8) {
    ++errors_;
    live_counters::bump(live_.errors);
    return;
  }
  std::int64_t intended = 0;
  std::memcpy(&intended, payload.data(), sizeof intended);
  latency_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - intended, 0)));
  if (open_loop_ && payload.size() >= 16) {
    std::int64_t actual = 0;
    std::memcpy(&actual, payload.data() + 8, sizeof actual);
    uncorrected_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - actual, 0)));
  }
  ++received_;
  live_counters::bump(live_.received);
  if (phase_ == run_phase::running && !open_loop_) send_one(c, now, now);
}

void echo_worker::on_closed(ws_client& c, std::string_view why) {
  if (opened_[c.id()]) {
    live_.open.store(live_.open.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  } else {
    ++settled_;
  }
  if (phase_ != run_phase::draining && failed_ == 0)
    std::fprintf(stderr, "shoal-loadgen: connection closed: %.*s\n", static_cast<int>(why.size()), why.data());
  ++failed_;
  live_counters::bump(live_.failed);
}

void echo_worker::collect(run_report& r) const {
  r.connections += static_cast<std::uint64_t>(std::count(opened_.begin(), opened_.end(), true));
  r.connect_errors += failed_ + loop_.unanswered();
  for (const auto& [reason, count] : loop_.not_opened()) r.open_failures[reason] += count;
  r.sent += sent_;
  r.received += received_;
  r.errors += errors_;
  r.latency.merge(latency_);
  r.latency_uncorrected.merge(uncorrected_);
}

bool echo_drained(const run_control& ctl) {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  for (const live_counters& c : ctl.counters) {
    sent += c.sent.load(std::memory_order_relaxed);
    received += c.received.load(std::memory_order_relaxed);
  }
  return received >= sent;
}

}  // namespace shoal::loadgen
