// The echo probe's thread; see echo_probe.hpp. Round trips count from the probe's own send
// time, taken just before the message is queued and flushed in the same loop pass.
#include "loadgen/echo_probe.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "loadgen/pacer.hpp"

namespace shoal::loadgen {
namespace {
constexpr std::int64_t idle_poll_ns = 50'000'000;
constexpr std::size_t probe_message_bytes = 16;  // send time, sequence number
}  // namespace

echo_probe::echo_probe(const options& opt, run_control& ctl)
    : opt_(opt), ctl_(ctl), live_(ctl.counters[0]), count_(opt.probe), slots_(count_) {}

void echo_probe::run() {
  // The run's connection 0's URL: with several --url, the probe measures the first node. Its
  // tokens are those of the connections after the run's --connections.
  loop_.connect_all([this](std::uint32_t) -> const ws_target& { return opt_.targets.connection(0); }, count_,
                    [this](std::uint32_t id) { return opt_.tokens.token_for(opt_.connections + id); });
  bool ready_sent = false;
  for (;;) {
    const run_phase ph = ctl_.phase.load(std::memory_order_acquire);
    if (ph == run_phase::done) break;
    if (!ready_sent && settled_ == count_) {
      ready_sent = true;
      ctl_.ready.fetch_add(1, std::memory_order_release);
    }
    if (ph == run_phase::running && phase_ == run_phase::warmup) {
      phase_ = run_phase::running;
      drop_ns_ = ctl_.start_ns.load(std::memory_order_relaxed) +
                 static_cast<std::int64_t>(opt_.drop_all_at_s * 1e9);
    } else if (ph == run_phase::draining) {
      phase_ = run_phase::draining;
    }
    std::int64_t timeout = idle_poll_ns;
    if (phase_ == run_phase::running) {
      timeout = send_due(now_ns(), idle_poll_ns);
      loop_.flush(*this);
    }
    loop_.poll(timeout, *this);
  }
  loop_.shutdown_all();
}

std::int64_t echo_probe::send_due(std::int64_t now, std::int64_t idle) {
  std::int64_t wait = idle;
  for (std::uint32_t id = 0; id < count_; ++id) {
    slot& s = slots_[id];
    ws_client& c = loop_.client(id);
    if (s.waiting || !c.is_open()) continue;
    const std::int64_t due = s.seq == 0 ? now : s.sent_ns + probe_interval_ns;
    if (due > now) {
      wait = std::min(wait, due - now);
      continue;
    }
    s.seq = next_seq_++;
    s.sent_ns = now_ns();
    s.waiting = true;
    std::uint8_t message[probe_message_bytes];
    std::memcpy(message, &s.sent_ns, 8);
    std::memcpy(message + 8, &s.seq, 8);
    loop_.send(c, core::opcode::binary, message);
    live_counters::bump(live_.sent);
    wait = std::min(wait, probe_interval_ns);
  }
  return wait;
}

void echo_probe::fail(std::string why) {
  if (!error_.empty()) return;
  std::fprintf(stderr, "shoal-loadgen: probe: %s\n", why.c_str());
  error_ = std::move(why);
  live_counters::bump(live_.errors);
}

void echo_probe::on_open(ws_client& c) {
  slots_[c.id()].opened = true;
  ++settled_;
  live_counters::bump(live_.open);
}

void echo_probe::on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) {
  const std::int64_t now = now_ns();
  slot& s = slots_[c.id()];
  std::uint64_t seq = 0;
  std::int64_t sent = 0;
  if (payload.size() == probe_message_bytes) {
    std::memcpy(&sent, payload.data(), 8);
    std::memcpy(&seq, payload.data() + 8, 8);
  }
  if (op != core::opcode::binary || !s.waiting || seq != s.seq || sent != s.sent_ns) {
    fail("the server's reply is not the echo of the probe's message: --url must be an echo endpoint (/echo)");
    return;
  }
  s.waiting = false;
  const auto rtt = static_cast<std::uint64_t>(std::max<std::int64_t>(now - sent, 0));
  round_trips_.record(rtt);
  if (now >= drop_ns_ && sent < drop_ns_ + static_cast<std::int64_t>(probe_drop_window_s * 1e9))
    during_drop_.record(rtt);
  live_counters::bump(live_.received);
}

void echo_probe::on_closed(ws_client& c, std::string_view why) {
  slot& s = slots_[c.id()];
  if (s.opened) {
    live_.open.store(live_.open.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  } else {
    ++settled_;
  }
  live_counters::bump(live_.failed);
  fail(std::string(s.opened ? "a probe connection was closed: " : "a probe connection could not open: ") +
       std::string(why));
}

void echo_probe::collect(run_report& r) const {
  probe_report p;
  p.connections = count_;
  p.drop_at_s = opt_.drop_all_at_s;
  p.round_trips = round_trips_;
  p.during_drop = during_drop_;
  p.error = error_;
  const bool missing = std::any_of(slots_.begin(), slots_.end(), [](const slot& s) { return s.waiting; });
  if (p.error.empty() && missing) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "an echo had not come back %.1f s after the hold (--drain-timeout): --url must be an "
                  "echo endpoint (/echo)", opt_.drain_timeout_s);
    p.error = buf;
  } else if (p.error.empty() && round_trips_.count() == 0 && !r.interrupted) {
    p.error = "no round trip completed";
  }
  r.connections += static_cast<std::uint64_t>(
      std::count_if(slots_.begin(), slots_.end(), [](const slot& s) { return s.opened; }));
  r.probe = std::move(p);
}

}  // namespace shoal::loadgen
