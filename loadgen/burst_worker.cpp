// Burst scenario worker; one thread. Subscribers count every seq once (a bitmap from the seq the
// topic had when they subscribed), so duplicates and order violations are told apart; publishers
// match each answer to its publish by id. Anything else from the server counts as an error.
#include "loadgen/burst_worker.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "loadgen/json_scan.hpp"

namespace shoal::loadgen {
namespace {
constexpr std::int64_t idle_poll_ns = 50'000'000;
constexpr std::size_t pipeline_window = 256 * 1024;   // bytes kept queued per hot publisher
constexpr std::uint64_t max_quiet_sends_per_pass = 1024;
constexpr std::uint64_t max_tracked_seqs = std::uint64_t{1} << 26;  // per subscriber bitmap

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_topic(std::string& out, std::uint32_t topic) {
  if (topic == 0) {
    out += "burst.hot";
    return;
  }
  out += "burst.quiet.";
  append_uint(out, topic);
}
}  // namespace

burst_worker::burst_worker(const options& opt, run_control& ctl, unsigned index)
    : opt_(opt),
      ctl_(ctl),
      live_(ctl.counters[index]),
      index_(index),
      confirmed_(opt.quiet_topics + 1, 0),
      acked_per_topic_(opt.quiet_topics + 1, 0) {
  const std::uint64_t quiet_subs = opt.quiet_topics * opt.quiet_subscribers;
  const std::uint64_t first_publisher = opt.subscribers + quiet_subs;
  const std::uint64_t total = first_publisher + opt.publishers + (opt.quiet_topics > 0 ? 1 : 0);
  count_ = share_of(total, opt.threads, index);
  conns_.resize(count_);
  for (std::uint64_t i = 0; i < count_; ++i) {
    const std::uint64_t g = index_ + i * opt.threads;
    conn& s = conns_[i];
    if (g < opt.subscribers) {
      s.kind = role::hot_subscriber;
    } else if (g < first_publisher) {
      s.kind = role::quiet_subscriber;
      s.topic = static_cast<std::uint32_t>(1 + (g - opt.subscribers) % opt.quiet_topics);
    } else if (g < first_publisher + opt.publishers) {
      s.kind = role::hot_publisher;
      s.publisher = g - first_publisher;
      s.answered.assign(opt.pipeline, false);
      hot_publishers_.push_back(static_cast<std::uint32_t>(i));
      to_send_ += opt.pipeline;
    } else {
      s.kind = role::quiet_publisher;
      s.publisher = opt.publishers;
      quiet_publisher_ = static_cast<std::int64_t>(i);
    }
    s.tally.topic = s.topic;
  }
  live_.to_send.store(to_send_, std::memory_order_relaxed);
}

void burst_worker::run() {
  // Subscribers (hot, then quiet) are g < first publisher; publishers (hot, then quiet) after.
  loop_.connect_all(
      [this](std::uint32_t id) -> const ws_target& {
        const conn& s = conns_[id];
        const bool publishes = s.kind == role::hot_publisher || s.kind == role::quiet_publisher;
        return publishes ? opt_.targets.publisher(s.publisher)
                         : opt_.targets.subscriber(index_ + std::uint64_t{id} * opt_.threads);
      },
      count_, [this](std::uint32_t id) { return opt_.tokens.token_for(index_ + std::uint64_t{id} * opt_.threads); });
  bool ready_sent = false;
  std::int64_t p99_at = 0;
  // A hot publisher can take more now: open, publishes left, and its queue below the window.
  const auto hungry = [this](std::uint32_t id) {
    ws_client& c = loop_.client(id);
    return c.is_open() && conns_[id].next < opt_.pipeline && c.queued_bytes() < pipeline_window;
  };
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
      if (quiet_publisher_ >= 0 && opt_.quiet_rate > 0)
        quiet_pacer_ = pacer(ctl_.start_ns.load(std::memory_order_relaxed), opt_.quiet_rate);
    } else if (ph == run_phase::draining) {
      phase_ = run_phase::draining;
    }
    std::int64_t timeout = idle_poll_ns;
    if (phase_ == run_phase::running) {
      for (const std::uint32_t id : hot_publishers_) {
        ws_client& c = loop_.client(id);
        while (hungry(id)) publish(c, 0, now_ns());
      }
      if (quiet_publisher_ >= 0 && opt_.quiet_rate > 0) {
        ws_client& q = loop_.client(static_cast<std::uint32_t>(quiet_publisher_));
        const std::int64_t now = now_ns();
        for (std::uint64_t n = 0; n < max_quiet_sends_per_pass && quiet_pacer_.due(now); ++n) {
          const std::int64_t intended = quiet_pacer_.take();
          if (q.is_open()) {
            const std::uint64_t k = conns_[q.id()].next % opt_.quiet_topics;
            publish(q, static_cast<std::uint32_t>(1 + k), intended);
          }
        }
        timeout = std::clamp<std::int64_t>(quiet_pacer_.next_due() - now_ns(), 0, idle_poll_ns);
      }
      loop_.flush(*this);
      // The socket took everything: feed it again at once rather than wait for an edge.
      if (std::any_of(hot_publishers_.begin(), hot_publishers_.end(), hungry)) timeout = 0;
    }
    loop_.poll(timeout, *this);
  }
  loop_.shutdown_all();
}

void burst_worker::publish(ws_client& c, std::uint32_t topic, std::int64_t stamp) {
  conn& s = conns_[c.id()];
  const std::uint64_t n = s.next++;
  message_.assign(R"({"op":"pub","topic":")");
  append_topic(message_, topic);
  message_ += R"(","id":)";
  append_uint(message_, s.publisher << 32 | n);
  message_ += R"(,"data":{"t":)";
  append_uint(message_, static_cast<std::uint64_t>(stamp));
  message_ += R"(,"pad":")";
  const std::size_t tail = 3;  // "}}
  if (message_.size() + tail < opt_.size) message_.append(opt_.size - message_.size() - tail, 'x');
  message_ += "\"}}";
  loop_.send_text(c, message_);
  live_counters::bump(live_.sent);
  if (s.kind == role::hot_publisher) {
    ++hot_.sent;
    --to_send_;
    live_.to_send.store(to_send_, std::memory_order_relaxed);
  } else {
    ++quiet_.sent;
    s.answered.push_back(false);
  }
}

void burst_worker::settle(conn& s) {
  if (s.settled) return;
  s.settled = true;
  ++settled_;
}

void burst_worker::on_open(ws_client& c) {
  conn& s = conns_[c.id()];
  s.opened = true;
  live_counters::bump(live_.open);
  if (s.kind == role::hot_publisher || s.kind == role::quiet_publisher) {
    settle(s);
    return;
  }
  message_.assign(R"({"op":"sub","topic":")");
  append_topic(message_, s.topic);
  message_ += "\"}";
  loop_.send_text(c, message_);
}

void burst_worker::count_error(std::string_view what) { live_.unexpected(errors_, what); }

void burst_worker::on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) {
  const std::int64_t now = now_ns();
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  conn& s = conns_[c.id()];
  const bool publisher = s.kind == role::hot_publisher || s.kind == role::quiet_publisher;
  const auto kind = json_string_member(text, "op");
  if (op != core::opcode::text || !kind) return count_error(text);
  if (*kind == "msg" && !publisher) return on_delivery(s, text, now);
  if (*kind == "ack" && publisher) return on_answer(s, text, true);
  if (*kind == "error" && publisher && json_find_member(text, "id") != std::string_view::npos)
    return on_answer(s, text, false);
  if (*kind == "gap" && !publisher) {
    const auto from = json_uint_member(text, "from");
    const auto to = json_uint_member(text, "to");
    if (!from || !to || *to < *from) return count_error(text);
    ++s.tally.gap_notices;
    s.tally.gap_messages += *to - *from + 1;
    live_counters::bump(live_.gaps, *to - *from + 1);
    s.last_seq = std::max(s.last_seq, *to);
    return;
  }
  if (*kind == "subscribed" && !publisher && !s.settled) {
    s.base_seq = json_uint_member(text, "seq").value_or(0);
    s.last_seq = s.base_seq;
    s.confirmed = true;
    ++confirmed_[s.topic];
    settle(s);
    return;
  }
  count_error(text);
}

void burst_worker::on_delivery(conn& s, std::string_view text, std::int64_t now) {
  const auto seq = json_uint_member(text, "seq");
  const std::size_t data = json_find_member(text, "data");
  const auto t = data == std::string_view::npos ? std::nullopt : json_uint_member(text, "t", data);
  if (!seq || !t) return count_error(text);
  if (*seq <= s.base_seq) {  // published before the subscription was confirmed
    ++s.tally.order_violations;
    return;
  }
  const std::uint64_t index = *seq - s.base_seq - 1;
  if (index < s.seen.size() && s.seen[index]) {
    ++s.tally.duplicates;
    return;
  }
  if (*seq <= s.last_seq) ++s.tally.order_violations;
  if (index < max_tracked_seqs) {
    if (index >= s.seen.size()) s.seen.resize(std::max<std::uint64_t>(index + 1, 2 * s.seen.size()), false);
    s.seen[index] = true;
  }
  s.last_seq = std::max(s.last_seq, *seq);
  ++s.tally.delivered;
  latency_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - static_cast<std::int64_t>(*t), 0)));
  live_counters::bump(live_.received);
}

void burst_worker::on_answer(conn& s, std::string_view text, bool ack) {
  publish_tally& side = s.kind == role::hot_publisher ? hot_ : quiet_;
  const auto id = json_uint_member(text, "id");
  const std::uint64_t n = id ? (*id & 0xffff'ffffu) : 0;
  if (!id || (*id >> 32) != s.publisher || n >= s.next || s.answered[n]) {
    ++side.unmatched;
    return;
  }
  s.answered[n] = true;
  if (!ack) {
    ++side.refusals[std::string(json_string_member(text, "code").value_or("unknown"))];
    live_counters::bump(live_.refused);
    return;
  }
  const std::size_t topic = s.kind == role::hot_publisher ? 0 : 1 + n % opt_.quiet_topics;
  const std::uint64_t subs = topic < ctl_.subscribers_per_topic.size() ? ctl_.subscribers_per_topic[topic] : 0;
  ++side.acked;
  ++acked_per_topic_[topic];
  expected_ += subs;
  live_counters::bump(live_.acked);
  live_counters::bump(live_.expected, subs);
}

void burst_worker::on_closed(ws_client& c, std::string_view why) {
  conn& s = conns_[c.id()];
  if (s.opened) live_.open.store(live_.open.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  settle(s);
  if (s.kind == role::hot_publisher && s.next < opt_.pipeline) {  // the rest will never be sent
    to_send_ -= opt_.pipeline - s.next;
    s.next = opt_.pipeline;
    live_.to_send.store(to_send_, std::memory_order_relaxed);
  }
  if (phase_ != run_phase::draining && failed_ == 0)
    std::fprintf(stderr, "shoal-loadgen: connection closed: %.*s\n", static_cast<int>(why.size()), why.data());
  ++failed_;
  live_counters::bump(live_.failed);
}

void burst_worker::collect(run_report& r) const {
  r.connections += static_cast<std::uint64_t>(
      std::count_if(conns_.begin(), conns_.end(), [](const conn& s) { return s.opened; }));
  r.connect_errors += failed_ + loop_.unanswered();
  for (const auto& [reason, count] : loop_.not_opened()) r.open_failures[reason] += count;
  r.sent += hot_.sent + quiet_.sent;
  r.acked += hot_.acked + quiet_.acked;
  r.expected += expected_;
  r.errors += errors_;
  r.latency.merge(latency_);
  burst_tallies& b = r.burst;
  b.pipeline = opt_.pipeline;
  b.publishers = opt_.publishers;
  b.quiet_topics = opt_.quiet_topics;
  b.quiet_rate = opt_.quiet_rate;
  b.hot.add(hot_);
  b.quiet.add(quiet_);
  b.acked_per_topic.resize(acked_per_topic_.size(), 0);
  for (std::size_t k = 0; k < acked_per_topic_.size(); ++k) b.acked_per_topic[k] += acked_per_topic_[k];
  for (const conn& s : conns_) {
    if (!s.confirmed) continue;  // never subscribed: expected nothing (a connect error)
    r.received += s.tally.delivered;
    r.gaps += s.tally.gap_messages;
    r.order_violations += s.tally.order_violations;
    b.subscribers.push_back(s.tally);
  }
}

bool burst_drained(const run_control& ctl) {
  std::uint64_t to_send = 0, sent = 0, answered = 0, received = 0, expected = 0, gaps = 0;
  for (const live_counters& c : ctl.counters) {
    to_send += c.to_send.load(std::memory_order_relaxed);
    sent += c.sent.load(std::memory_order_relaxed);
    answered += c.acked.load(std::memory_order_relaxed) + c.refused.load(std::memory_order_relaxed);
    received += c.received.load(std::memory_order_relaxed);
    expected += c.expected.load(std::memory_order_relaxed);
    gaps += c.gaps.load(std::memory_order_relaxed);
  }
  return to_send == 0 && answered >= sent && received + gaps >= expected;
}

}  // namespace shoal::loadgen
