// JSON report parsing (with the json_scan helpers; field names are unique in format_json's
// output, and the nested latency objects come after every top-level counter) and merging. The
// URL strings are read with the escapes format_json writes (\" \\ \u00XX), since a URL may hold them.
// The open_failures object comes last, and its reasons are never a bare field name ("HTTP 401",
// "auth refused: ..."), so they cannot be mistaken for a field.
#include "loadgen/report_merge.hpp"

#include <algorithm>
#include <charconv>

#include "loadgen/json_scan.hpp"

namespace shoal::loadgen {
namespace {

std::optional<double> json_double_member(std::string_view json, std::string_view name) {
  const std::size_t at = json_find_member(json, name);
  if (at == std::string_view::npos) return std::nullopt;
  double v = 0;
  const auto res = std::from_chars(json.data() + at, json.data() + json.size(), v);
  if (res.ec != std::errc{}) return std::nullopt;
  return v;
}

// A JSON string starting at p (at its opening quote), with the escapes format_json writes; p is
// left after the closing quote.
std::optional<std::string> parse_string(const char*& p, const char* end) {
  if (p >= end || *p != '"') return std::nullopt;
  std::string out;
  for (++p; p < end; ++p) {
    if (*p == '"') {
      ++p;
      return out;
    }
    if (*p != '\\') {
      out += *p;
      continue;
    }
    if (++p >= end) return std::nullopt;
    if (*p == '"' || *p == '\\' || *p == '/') {
      out += *p;
    } else if (*p == 'u' && end - p > 4 && p[1] == '0' && p[2] == '0') {
      unsigned v = 0;
      const auto res = std::from_chars(p + 3, p + 5, v, 16);
      if (res.ec != std::errc{} || res.ptr != p + 5) return std::nullopt;
      out += static_cast<char>(v);
      p += 4;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::string> string_member(std::string_view json, std::string_view name) {
  const std::size_t at = json_find_member(json, name);
  if (at == std::string_view::npos) return std::nullopt;
  const char* p = json.data() + at;
  return parse_string(p, json.data() + json.size());
}

// "name":["a","b"]; an absent member is an empty list.
std::optional<std::vector<std::string>> string_array_member(std::string_view json, std::string_view name) {
  std::vector<std::string> out;
  const std::size_t at = json_find_member(json, name);
  if (at == std::string_view::npos) return out;
  const char* p = json.data() + at;
  const char* end = json.data() + json.size();
  if (p >= end || *p != '[') return std::nullopt;
  ++p;
  while (p < end && *p == '"') {
    auto s = parse_string(p, end);
    if (!s) return std::nullopt;
    out.push_back(std::move(*s));
    if (p < end && *p == ',') ++p;
  }
  if (p >= end || *p != ']') return std::nullopt;
  return out;
}

std::optional<std::vector<std::pair<std::size_t, std::uint64_t>>> parse_buckets(std::string_view json) {
  std::size_t at = json_find_member(json, "h_buckets");
  if (at == std::string_view::npos || at >= json.size() || json[at] != '[') return std::nullopt;
  std::vector<std::pair<std::size_t, std::uint64_t>> out;
  const char* p = json.data() + at + 1;
  const char* end = json.data() + json.size();
  while (p < end && *p == '[') {
    std::size_t index = 0;
    std::uint64_t count = 0;
    auto r1 = std::from_chars(p + 1, end, index);
    if (r1.ec != std::errc{} || r1.ptr >= end || *r1.ptr != ',') return std::nullopt;
    auto r2 = std::from_chars(r1.ptr + 1, end, count);
    if (r2.ec != std::errc{} || r2.ptr >= end || *r2.ptr != ']') return std::nullopt;
    out.emplace_back(index, count);
    p = r2.ptr + 1;
    if (p < end && *p == ',') ++p;
  }
  if (p >= end || *p != ']') return std::nullopt;
  return out;
}

// "open_failures":{"reason":count,...}; an absent member is an empty map.
std::optional<std::map<std::string, std::uint64_t>> parse_open_failures(std::string_view json) {
  std::map<std::string, std::uint64_t> out;
  const std::size_t at = json_find_member(json, "open_failures");
  if (at == std::string_view::npos) return out;
  const char* p = json.data() + at;
  const char* end = json.data() + json.size();
  if (p >= end || *p != '{') return std::nullopt;
  ++p;
  while (p < end && *p == '"') {
    auto reason = parse_string(p, end);
    if (!reason || p >= end || *p != ':') return std::nullopt;
    std::uint64_t count = 0;
    const auto res = std::from_chars(p + 1, end, count);
    if (res.ec != std::errc{}) return std::nullopt;
    out[std::move(*reason)] += count;
    p = res.ptr;
    if (p < end && *p == ',') ++p;
  }
  if (p >= end || *p != '}') return std::nullopt;
  return out;
}

// "timeline":[[t,sent,received,p99_us],...]; an absent timeline is an empty one.
std::optional<std::vector<timeline_point>> parse_timeline(std::string_view json) {
  std::vector<timeline_point> out;
  const std::size_t at = json_find_member(json, "timeline");
  if (at == std::string_view::npos) return out;
  if (at >= json.size() || json[at] != '[') return std::nullopt;
  const char* p = json.data() + at + 1;
  const char* end = json.data() + json.size();
  while (p < end && *p == '[') {
    timeline_point tp;
    double p99_us = 0;
    auto r1 = std::from_chars(p + 1, end, tp.t_s);
    if (r1.ec != std::errc{} || r1.ptr >= end || *r1.ptr != ',') return std::nullopt;
    auto r2 = std::from_chars(r1.ptr + 1, end, tp.sent);
    if (r2.ec != std::errc{} || r2.ptr >= end || *r2.ptr != ',') return std::nullopt;
    auto r3 = std::from_chars(r2.ptr + 1, end, tp.received);
    if (r3.ec != std::errc{} || r3.ptr >= end || *r3.ptr != ',') return std::nullopt;
    auto r4 = std::from_chars(r3.ptr + 1, end, p99_us);
    if (r4.ec != std::errc{} || r4.ptr >= end || *r4.ptr != ']') return std::nullopt;
    tp.p99_ns = static_cast<std::uint64_t>(p99_us * 1e3 + 0.5);
    out.push_back(tp);
    p = r4.ptr + 1;
    if (p < end && *p == ',') ++p;
  }
  if (p >= end || *p != ']') return std::nullopt;
  return out;
}

}  // namespace

std::optional<run_report> parse_report_json(std::string_view json) {
  run_report r;
  const auto scenario = json_string_member(json, "scenario");
  const auto mode = json_string_member(json, "mode");
  auto url = string_member(json, "url");
  auto urls = string_array_member(json, "urls");
  auto publish_urls = string_array_member(json, "publish_urls");
  auto subscribe_urls = string_array_member(json, "subscribe_urls");
  const auto buckets = parse_buckets(json);
  const auto timeline = parse_timeline(json);
  auto open_failures = parse_open_failures(json);
  if (!scenario || !mode || !url || !urls || !publish_urls || !subscribe_urls || !buckets || !timeline ||
      !open_failures)
    return std::nullopt;
  r.open_failures = std::move(*open_failures);
  r.timeline = *timeline;
  r.scenario = std::string(*scenario);
  r.mode = std::string(*mode);
  r.url = std::move(*url);
  r.urls = std::move(*urls);
  r.publish_urls = std::move(*publish_urls);
  r.subscribe_urls = std::move(*subscribe_urls);
  struct uint_field {
    const char* name;
    std::uint64_t* out;
  };
  const uint_field counters[] = {
      {"connections", &r.connections}, {"connect_errors", &r.connect_errors}, {"size", &r.size},
      {"sent", &r.sent}, {"received", &r.received}, {"acked", &r.acked}, {"expected", &r.expected},
      {"gaps", &r.gaps}, {"order_violations", &r.order_violations}, {"errors", &r.errors}};
  for (const uint_field& f : counters) {
    const auto v = json_uint_member(json, f.name);
    if (!v) return std::nullopt;
    *f.out = *v;
  }
  r.threads = static_cast<unsigned>(json_uint_member(json, "threads").value_or(0));
  r.duration_s = json_double_member(json, "duration_s").value_or(0);
  r.interrupted = json.find("\"interrupted\":true") != std::string_view::npos;
  r.target_rate = json_double_member(json, "target_rate_per_s").value_or(0);
  r.intended = json_uint_member(json, "intended").value_or(0);
  r.connect_s = json_double_member(json, "connect_s").value_or(0);
  r.closed_while_held = json_uint_member(json, "closed_while_held").value_or(0);
  r.dropped = json_uint_member(json, "dropped").value_or(0);
  r.drop_spread_ns = json_uint_member(json, "drop_spread_ns").value_or(0);
  if (const auto before = json_uint_member(json, "server_rss_before_bytes")) r.server_rss_before = before;
  const auto cpu = json_double_member(json, "server_cpu_s");
  const auto rss = json_uint_member(json, "server_rss_bytes");
  if (cpu && rss) r.server = server_usage{*cpu, *rss};
  r.latency = histogram::from_buckets(*buckets, json_uint_member(json, "h_min").value_or(0),
                                      json_uint_member(json, "h_max").value_or(0),
                                      json_uint_member(json, "h_clamped").value_or(0),
                                      json_uint_member(json, "h_sum").value_or(0));
  return r;
}

void merge_report(run_report& total, const run_report& part) {
  if (total.scenario.empty()) {
    total.scenario = part.scenario;
    total.mode = part.mode;
    total.url = part.url;  // every process ran with the same URL lists
    total.urls = part.urls;
    total.publish_urls = part.publish_urls;
    total.subscribe_urls = part.subscribe_urls;
    total.size = part.size;
  }
  total.connections += part.connections;
  total.connect_errors += part.connect_errors;
  for (const auto& [reason, count] : part.open_failures) total.open_failures[reason] += count;
  total.threads += part.threads;
  total.duration_s = std::max(total.duration_s, part.duration_s);
  total.interrupted = total.interrupted || part.interrupted;
  total.sent += part.sent;
  // Each process ran its share of the rate over its own window: the asked rates and the
  // intended sends add up (missed sends follow from the sums).
  total.target_rate += part.target_rate;
  total.intended += part.intended;
  total.acked += part.acked;
  total.received += part.received;
  total.expected += part.expected;
  total.gaps += part.gaps;
  total.order_violations += part.order_violations;
  total.errors += part.errors;
  total.latency.merge(part.latency);
  total.latency_uncorrected.merge(part.latency_uncorrected);
  // Timelines of processes that ran side by side add up second by second.
  if (total.timeline.size() < part.timeline.size()) total.timeline.resize(part.timeline.size());
  for (std::size_t i = 0; i < part.timeline.size(); ++i) {
    timeline_point& t = total.timeline[i];
    t.t_s = std::max(t.t_s, part.timeline[i].t_s);
    t.sent += part.timeline[i].sent;
    t.received += part.timeline[i].received;
    t.p99_ns = std::max(t.p99_ns, part.timeline[i].p99_ns);
  }
  total.connect_s = std::max(total.connect_s, part.connect_s);
  total.closed_while_held += part.closed_while_held;
  total.dropped += part.dropped;
  total.drop_spread_ns = std::max(total.drop_spread_ns, part.drop_spread_ns);
  if (part.server) {
    if (!total.server) total.server = part.server;
    total.server->cpu_s = std::max(total.server->cpu_s, part.server->cpu_s);
    total.server->rss_bytes = std::max(total.server->rss_bytes, part.server->rss_bytes);
  }
}

}  // namespace shoal::loadgen
