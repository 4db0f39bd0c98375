// Pub/sub scenario worker; one thread. Server messages are read with the json_scan helpers;
// every "op" this worker does not expect counts as an error rather than stopping the run.
#include "loadgen/pubsub_worker.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "loadgen/json_scan.hpp"

namespace shoal::loadgen {
namespace {
constexpr std::int64_t idle_poll_ns = 50'000'000;
constexpr std::uint64_t max_sends_per_pass = 1024;

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// "lg.<index>" -> index, or topics (out of range) if the name is not ours.
std::uint64_t topic_index(std::string_view topic, std::uint64_t topics) {
  if (topic.substr(0, 3) != "lg.") return topics;
  std::uint64_t v = topics;
  std::from_chars(topic.data() + 3, topic.data() + topic.size(), v);
  return std::min(v, topics);
}
}  // namespace

pubsub_worker::pubsub_worker(const options& opt, run_control& ctl, unsigned index)
    : opt_(opt),
      ctl_(ctl),
      live_(ctl.counters[index]),
      index_(index),
      count_(share_of(opt.subscribers + opt.publishers, opt.threads, index)),
      conns_(count_),
      confirmed_(opt.topics, 0) {
  for (std::uint64_t i = 0; i < count_; ++i) {
    const std::uint64_t g = index_ + i * opt.threads;
    conn& s = conns_[i];
    if (g < opt.subscribers) {
      s.topic = static_cast<std::uint32_t>(g % opt.topics);
      const auto gd = static_cast<double>(g);
      s.slow = opt.slow_share > 0 && std::floor((gd + 1) * opt.slow_share) > std::floor(gd * opt.slow_share);
    } else {
      s.publisher = true;
      s.publisher_index = g - opt.subscribers;
      publishers_.push_back(static_cast<std::uint32_t>(i));
    }
  }
}

void pubsub_worker::run() {
  loop_.connect_all(
      [this](std::uint32_t id) -> const ws_target& {
        const conn& s = conns_[id];
        return s.publisher ? opt_.targets.publisher(s.publisher_index)
                           : opt_.targets.subscriber(index_ + std::uint64_t{id} * opt_.threads);
      },
      count_, [this](std::uint32_t id) { return opt_.tokens.token_for(index_ + std::uint64_t{id} * opt_.threads); });
  bool ready_sent = false;
  std::int64_t p99_at = 0;
  for (;;) {
    live_.publish_p99(latency_, now_ns(), p99_at);
    const run_phase ph = ctl_.phase.load(std::memory_order_acquire);
    if (ph == run_phase::done) break;
    if (!ready_sent && settled_ == count_) {
      ready_sent = true;  // confirmed_ is final from here on
      ctl_.ready.fetch_add(1, std::memory_order_release);
    }
    if (ph == run_phase::running && phase_ == run_phase::warmup) {
      phase_ = run_phase::running;
      start_sending();
    } else if (ph == run_phase::draining && phase_ != run_phase::draining) {
      phase_ = run_phase::draining;
      for (std::uint32_t id = 0; id < count_; ++id)
        if (conns_[id].slow) loop_.resume_reading(loop_.client(id), *this);
    }
    std::int64_t timeout = idle_poll_ns;
    if (phase_ == run_phase::running && opt_.rate > 0 && !publishers_.empty()) {
      pace(now_ns());
      loop_.flush(*this);
      timeout = std::clamp<std::int64_t>(pacer_.next_due() - now_ns(), 0, idle_poll_ns);
    }
    loop_.poll(timeout, *this);
  }
  loop_.shutdown_all();
}

void pubsub_worker::start_sending() {
  for (std::uint32_t id = 0; id < count_; ++id)
    if (conns_[id].slow && loop_.client(id).is_open()) loop_.client(id).pause_reading();
  if (publishers_.empty()) return;
  if (opt_.rate > 0) {
    const double share = opt_.rate * static_cast<double>(publishers_.size()) /
                         static_cast<double>(opt_.publishers);
    pacer_ = pacer(ctl_.start_ns.load(std::memory_order_relaxed), share);
    return;
  }
  for (const std::uint32_t id : publishers_) send_burst(loop_.client(id));
  loop_.flush(*this);
}

void pubsub_worker::pace(std::int64_t now) {
  for (std::uint64_t n = 0; n < max_sends_per_pass && pacer_.due(now); ++n) {
    const std::int64_t intended = pacer_.take();
    for (std::size_t tries = 0; tries < publishers_.size(); ++tries) {
      ws_client& c = loop_.client(publishers_[next_publisher_]);
      next_publisher_ = (next_publisher_ + 1) % publishers_.size();
      if (c.is_open()) {
        publish(c, intended);
        break;
      }
    }
  }
}

void pubsub_worker::send_burst(ws_client& c) {
  if (!c.is_open()) return;
  conn& s = conns_[c.id()];
  const std::int64_t now = now_ns();
  for (std::uint64_t k = 0; k < opt_.burst; ++k) publish(c, now);
  s.awaiting = opt_.burst;
}

void pubsub_worker::publish(ws_client& c, std::int64_t stamp) {
  conn& s = conns_[c.id()];
  const std::uint64_t topic = (s.counter * opt_.publishers + s.publisher_index) % opt_.topics;
  message_.assign(R"({"op":"pub","topic":"lg.)");
  append_uint(message_, topic);
  message_ += R"(","data":{"t":)";
  append_uint(message_, static_cast<std::uint64_t>(stamp));
  message_ += R"(,"p":)";
  append_uint(message_, s.publisher_index);
  message_ += R"(,"n":)";
  append_uint(message_, s.counter);
  message_ += R"(,"pad":")";
  const std::size_t tail = 3;  // "}}
  if (message_.size() + tail < opt_.size) message_.append(opt_.size - message_.size() - tail, 'x');
  message_ += "\"}}";
  ++s.counter;
  loop_.send_text(c, message_);
  ++sent_;
  live_counters::bump(live_.sent);
}

void pubsub_worker::settle(conn& s) {
  if (s.settled) return;
  s.settled = true;
  ++settled_;
}

void pubsub_worker::on_open(ws_client& c) {
  conn& s = conns_[c.id()];
  s.opened = true;
  live_counters::bump(live_.open);
  if (s.publisher) {
    settle(s);
    return;
  }
  std::string sub = R"({"op":"sub","topic":"lg.)";
  append_uint(sub, s.topic);
  sub += "\"}";
  loop_.send_text(c, sub);
}

void pubsub_worker::count_error(std::string_view what) { live_.unexpected(errors_, what); }

void pubsub_worker::on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) {
  const std::int64_t now = now_ns();
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  conn& s = conns_[c.id()];
  const auto kind = json_string_member(text, "op");
  if (op != core::opcode::text || !kind) return count_error(text);
  if (*kind == "msg") {
    const auto seq = json_uint_member(text, "seq");
    const std::size_t data = json_find_member(text, "data");
    const auto t = data == std::string_view::npos ? std::nullopt : json_uint_member(text, "t", data);
    if (!seq || !t) return count_error(text);
    if (*seq <= s.last_seq) ++order_violations_;
    s.last_seq = std::max(s.last_seq, *seq);
    if (s.slow) {
      ++slow_delivered_;
      return;
    }
    const auto sent_at = static_cast<std::int64_t>(*t);
    latency_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - sent_at, 0)));
    ++delivered_;
    live_counters::bump(live_.received);
  } else if (*kind == "ack") {
    const auto topic = json_string_member(text, "topic");
    const std::uint64_t k = topic ? topic_index(*topic, opt_.topics) : opt_.topics;
    const std::uint64_t subs = k < ctl_.subscribers_per_topic.size() ? ctl_.subscribers_per_topic[k] : 0;
    ++acked_;
    expected_ += subs;
    live_counters::bump(live_.acked);
    live_counters::bump(live_.expected, subs);
    if (s.awaiting > 0 && --s.awaiting == 0 && phase_ == run_phase::running) send_burst(c);
  } else if (*kind == "gap") {
    const auto from = json_uint_member(text, "from");
    const auto to = json_uint_member(text, "to");
    if (!from || !to || *to < *from) return count_error(text);
    if (s.slow) {
      slow_gaps_ += *to - *from + 1;
      ++slow_gap_notices_;
      s.last_seq = std::max(s.last_seq, *to);
      return;
    }
    gaps_ += *to - *from + 1;
    live_counters::bump(live_.gaps, *to - *from + 1);
    s.last_seq = std::max(s.last_seq, *to);
  } else if (*kind == "subscribed" && !s.publisher && !s.settled) {
    if (s.slow) ++slow_confirmed_; else ++confirmed_[s.topic];
    settle(s);
  } else {
    count_error(text);
  }
}

void pubsub_worker::on_closed(ws_client& c, std::string_view why) {
  conn& s = conns_[c.id()];
  if (s.opened) live_.open.store(live_.open.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  settle(s);
  if (s.slow && s.opened) {
    if (c.close_code() == 1008) ++slow_closed_1008_; else ++slow_closed_other_;
    return;
  }
  if (phase_ != run_phase::draining && failed_ == 0)
    std::fprintf(stderr, "shoal-loadgen: connection closed: %.*s\n", static_cast<int>(why.size()), why.data());
  ++failed_;
  live_counters::bump(live_.failed);
}

void pubsub_worker::collect(run_report& r) const {
  r.connections += static_cast<std::uint64_t>(
      std::count_if(conns_.begin(), conns_.end(), [](const conn& s) { return s.opened; }));
  r.connect_errors += failed_ + loop_.unanswered();
  for (const auto& [reason, count] : loop_.not_opened()) r.open_failures[reason] += count;
  r.sent += sent_;
  r.acked += acked_;
  r.received += delivered_;
  r.expected += expected_;
  r.gaps += gaps_;
  r.order_violations += order_violations_;
  r.errors += errors_;
  r.latency.merge(latency_);
  r.slow_subscribers += slow_confirmed_;
  r.slow_delivered += slow_delivered_;
  r.slow_gaps += slow_gaps_;
  r.slow_gap_notices += slow_gap_notices_;
  r.slow_closed_1008 += slow_closed_1008_;
  r.slow_closed_other += slow_closed_other_;
}

bool pubsub_drained(const run_control& ctl) {
  std::uint64_t sent = 0, acked = 0, received = 0, expected = 0, gaps = 0;
  for (const live_counters& c : ctl.counters) {
    sent += c.sent.load(std::memory_order_relaxed);
    acked += c.acked.load(std::memory_order_relaxed);
    received += c.received.load(std::memory_order_relaxed);
    expected += c.expected.load(std::memory_order_relaxed);
    gaps += c.gaps.load(std::memory_order_relaxed);
  }
  return acked >= sent && received + gaps >= expected;
}

}  // namespace shoal::loadgen
