// Summarising and rendering the burst scenario's tallies; see burst_report.hpp. Main thread only.
// JSON is written by hand like report.cpp: field names are fixed ASCII; the refusal codes come
// from the server and are written only when they are plain [a-z_] words.
#include "loadgen/burst_report.hpp"

#include <algorithm>
#include <cstdio>

namespace shoal::loadgen {
namespace {

using ull = unsigned long long;

bool plain_word(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

void add_subscriber(topic_group& g, const subscriber_tally& s, std::uint64_t expected) {
  if (g.subscribers == 0) {
    g.expected_min = g.expected_max = expected;
    g.delivered_min = g.delivered_max = s.delivered;
  }
  ++g.subscribers;
  g.expected += expected;
  g.delivered += s.delivered;
  g.expected_min = std::min(g.expected_min, expected);
  g.expected_max = std::max(g.expected_max, expected);
  g.delivered_min = std::min(g.delivered_min, s.delivered);
  g.delivered_max = std::max(g.delivered_max, s.delivered);
  g.gap_notices += s.gap_notices;
  g.gap_messages += s.gap_messages;
  g.order_violations += s.order_violations;
  g.duplicates += s.duplicates;
  const std::uint64_t accounted = s.delivered + s.gap_messages;
  if (accounted < expected) g.loss += expected - accounted;
}

void append_group_text(std::string& out, const char* indent, const topic_group& g) {
  char buf[320];
  const publish_tally& p = g.publishes;
  std::snprintf(buf, sizeof buf, "%ssent %llu  acked %llu  refused %llu  unanswered %llu  unmatched answers %llu\n",
                indent, static_cast<ull>(p.sent), static_cast<ull>(p.acked), static_cast<ull>(p.refused()),
                static_cast<ull>(g.unanswered()), static_cast<ull>(p.unmatched));
  out += buf;
  if (!p.refusals.empty()) {
    out += indent;
    out += "refusals by code:";
    for (const auto& [code, n] : p.refusals) {
      std::snprintf(buf, sizeof buf, " %s %llu", code.c_str(), static_cast<ull>(n));
      out += buf;
    }
    out += '\n';
  }
  std::snprintf(buf, sizeof buf,
                "%s%llu subscribers: delivered %llu of %llu expected (per subscriber: delivered min %llu max %llu, "
                "expected min %llu max %llu)\n",
                indent, static_cast<ull>(g.subscribers), static_cast<ull>(g.delivered), static_cast<ull>(g.expected),
                static_cast<ull>(g.delivered_min), static_cast<ull>(g.delivered_max),
                static_cast<ull>(g.expected_min), static_cast<ull>(g.expected_max));
  out += buf;
  std::snprintf(buf, sizeof buf,
                "%sgap notices %llu announcing %llu missing  order violations %llu  duplicates %llu  lost %llu\n",
                indent, static_cast<ull>(g.gap_notices), static_cast<ull>(g.gap_messages),
                static_cast<ull>(g.order_violations), static_cast<ull>(g.duplicates), static_cast<ull>(g.loss));
  out += buf;
}

void append_group_json(std::string& out, const char* name, const topic_group& g) {
  const publish_tally& p = g.publishes;
  out += ",\"";
  out += name;
  out += "\":{";
  bool first = true;
  auto field = [&out, &first](const char* key, std::uint64_t v) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += key;
    out += "\":" + std::to_string(v);
  };
  field("sent", p.sent);
  field("acked", p.acked);
  field("refused", p.refused());
  field("unanswered", g.unanswered());
  field("unmatched_answers", p.unmatched);
  out += ",\"refusals\":{";
  bool first_code = true;
  for (const auto& [code, n] : p.refusals) {
    if (!first_code) out += ',';
    first_code = false;
    out += '"' + (plain_word(code) ? code : std::string("other")) + "\":" + std::to_string(n);
  }
  out += '}';
  field("subscribers", g.subscribers);
  field("expected", g.expected);
  field("delivered", g.delivered);
  field("expected_min", g.expected_min);
  field("expected_max", g.expected_max);
  field("delivered_min", g.delivered_min);
  field("delivered_max", g.delivered_max);
  field("gap_notices", g.gap_notices);
  field("gap_messages", g.gap_messages);
  field("order_violations", g.order_violations);
  field("duplicates", g.duplicates);
  field("loss", g.loss);
  out += '}';
}

}  // namespace

std::uint64_t publish_tally::refused() const noexcept {
  std::uint64_t n = 0;
  for (const auto& [code, count] : refusals) n += count;
  return n;
}

void publish_tally::add(const publish_tally& other) {
  sent += other.sent;
  acked += other.acked;
  unmatched += other.unmatched;
  for (const auto& [code, n] : other.refusals) refusals[code] += n;
}

std::uint64_t topic_group::unanswered() const noexcept {
  const std::uint64_t answered = publishes.acked + publishes.refused();
  return publishes.sent > answered ? publishes.sent - answered : 0;
}

bool topic_group::complete() const noexcept {
  return publishes.refused() == 0 && unanswered() == 0 && publishes.unmatched == 0 && loss == 0 &&
         gap_messages == 0 && order_violations == 0 && duplicates == 0 && delivered == expected;
}

burst_summary summarize_burst(const burst_tallies& t) {
  burst_summary s;
  s.hot.publishes = t.hot;
  s.quiet.publishes = t.quiet;
  for (const subscriber_tally& sub : t.subscribers) {
    const std::uint64_t expected = sub.topic < t.acked_per_topic.size() ? t.acked_per_topic[sub.topic] : 0;
    add_subscriber(sub.topic == 0 ? s.hot : s.quiet, sub, expected);
  }
  return s;
}

void append_burst_text(std::string& out, const burst_tallies& t, const burst_summary& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  hot topic: %llu publishers x %llu pipelined publishes\n",
                static_cast<ull>(t.publishers), static_cast<ull>(t.pipeline));
  out += buf;
  append_group_text(out, "    ", s.hot);
  if (t.quiet_topics > 0) {
    std::snprintf(buf, sizeof buf, "  quiet topics: %llu at %.0f publishes/s in all\n",
                  static_cast<ull>(t.quiet_topics), t.quiet_rate);
    out += buf;
    append_group_text(out, "    ", s.quiet);
  }
  for (const auto* g : {&s.hot, &s.quiet}) {
    if (g == &s.quiet && t.quiet_topics == 0) continue;
    if (g->complete()) continue;
    std::snprintf(buf, sizeof buf,
                  "  NOT COMPLETE (%s): refused %llu, unanswered %llu, lost %llu, announced missing %llu\n",
                  g == &s.hot ? "hot topic" : "quiet topics", static_cast<ull>(g->publishes.refused()),
                  static_cast<ull>(g->unanswered()), static_cast<ull>(g->loss),
                  static_cast<ull>(g->gap_messages));
    out += buf;
  }
}

void append_burst_json(std::string& out, const burst_tallies& t, const burst_summary& s) {
  out += ",\"pipeline\":" + std::to_string(t.pipeline);
  out += ",\"quiet_topics\":" + std::to_string(t.quiet_topics);
  append_group_json(out, "hot", s.hot);
  if (t.quiet_topics > 0) append_group_json(out, "quiet", s.quiet);
}

}  // namespace shoal::loadgen
