// Renders a run_report as text and as JSON. Main thread only, after the run.
// The JSON is written by hand: field names are fixed ASCII, strings are escaped.
#include "loadgen/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

namespace shoal::loadgen {
namespace {

struct pct {
  const char* name;
  double p;
};
constexpr pct percentiles[] = {{"p50", 50}, {"p90", 90}, {"p99", 99},
                               {"p99.9", 99.9}, {"p99.99", 99.99}};

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

// Appends `v` with `decimals` digits after the point.
void append_fixed(std::string& out, double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  out += buf;
}

void append_string(std::string& out, const std::string& s) {
  out += '"';
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

// A JSON number: finite, or null.
void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  append_fixed(out, v, 3);
}

void append_string_array(std::string& out, const std::vector<std::string>& list) {
  out += '[';
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    append_string(out, list[i]);
  }
  out += ']';
}

void append_latency_json(std::string& out, const histogram& h) {
  out += '{';
  for (const pct& p : percentiles) {
    out += '"';
    out += p.name;
    out += "\":";
    append_number(out, us(h.percentile(p.p)));
    out += ',';
  }
  out += "\"max\":";
  append_number(out, us(h.max()));
  out += ",\"mean\":";
  append_number(out, h.mean() / 1000.0);
  out += ",\"count\":" + std::to_string(h.count()) + '}';
}

void append_latency_line(std::string& out, const char* label, const histogram& h) {
  out += label;
  for (const pct& p : percentiles) {
    out += ' ';
    out += p.name;
    out += ' ';
    append_fixed(out, us(h.percentile(p.p)), 1);
  }
  out += "  max ";
  append_fixed(out, us(h.max()), 1);
  out += " us\n";
}

}  // namespace

double run_report::server_cpu_us_per_message() const noexcept {
  if (!server || received == 0) return 0.0;
  return server->cpu_s * 1e6 / static_cast<double>(received);
}

double run_report::server_rss_per_connection() const noexcept {
  if (!server || !server_rss_before || connections == 0) return 0.0;
  return (static_cast<double>(server->rss_bytes) - static_cast<double>(*server_rss_before)) /
         static_cast<double>(connections);
}

std::vector<std::string> run_report::all_urls() const {
  if (!urls.empty()) return urls;
  if (url.empty()) return {};
  return {url};
}

std::string join_urls(const std::vector<std::string>& urls) {
  std::string out;
  for (const std::string& u : urls) {
    if (!out.empty()) out += ", ";
    out += u;
  }
  return out;
}

std::string format_open_failures(const std::map<std::string, std::uint64_t>& failures) {
  std::vector<std::pair<std::string, std::uint64_t>> sorted(failures.begin(), failures.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [reason, count] : sorted) {
    if (!out.empty()) out += "; ";
    out += std::to_string(count) + ' ' + reason;
  }
  return out;
}

std::string missed_rate_warning(const run_report& r) {
  if (!r.rate_missed()) return {};
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "WARNING: the load generator did not keep the rate: sent %llu of %llu intended (%.1f%%, "
                "%.0f msg/s asked, %.0f sent): the server saw less load than asked; add --threads or lower --rate\n",
                static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.intended),
                r.intended > 0 ? 100.0 * static_cast<double>(r.sent) / static_cast<double>(r.intended) : 0.0,
                r.target_rate, r.duration_s > 0 ? static_cast<double>(r.sent) / r.duration_s : 0.0);
  return buf;
}

std::string format_summary(const run_report& r) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s %s (%s)%s: %llu connections on %u threads, %llu B, %.2f s\n",
                r.scenario.c_str(), r.url.c_str(), r.mode.c_str(),
                r.interrupted ? " [interrupted: partial]" : "",
                static_cast<unsigned long long>(r.connections), r.threads,
                static_cast<unsigned long long>(r.size), r.duration_s);
  out += buf;
  if (!r.publish_urls.empty() || !r.subscribe_urls.empty()) {
    out += "  publishers to " + join_urls(r.publish_urls) + "\n";
    out += "  subscribers to " + join_urls(r.subscribe_urls) + "\n";
  } else if (const auto all = r.all_urls(); all.size() > 1) {
    out += "  urls (round robin) " + join_urls(all) + "\n";
  }
  std::snprintf(buf, sizeof buf, "  sent %llu  %s %llu  rate %.0f msg/s  connect errors %llu  errors %llu\n",
                static_cast<unsigned long long>(r.sent),
                r.scenario == "echo" || r.scenario == "connect" ? "received" : "delivered",
                static_cast<unsigned long long>(r.received), r.rate_per_s(),
                static_cast<unsigned long long>(r.connect_errors),
                static_cast<unsigned long long>(r.errors));
  out += buf;
  if (!r.open_failures.empty()) out += "  failed to open, by reason: " + format_open_failures(r.open_failures) + "\n";
  if (r.target_rate > 0) {
    std::snprintf(buf, sizeof buf, "  open loop at %.0f msg/s: intended %llu  sent %llu  missed sends %llu (%.1f%% of intended sent)\n",
                  r.target_rate, static_cast<unsigned long long>(r.intended),
                  static_cast<unsigned long long>(r.sent),
                  static_cast<unsigned long long>(r.missed_sends()),
                  r.intended > 0 ? 100.0 * static_cast<double>(r.sent) / static_cast<double>(r.intended) : 100.0);
    out += buf;
    out += missed_rate_warning(r);
  }
  if (r.scenario == "burst") append_burst_text(out, r.burst, summarize_burst(r.burst));
  if (r.scenario == "slow") {
    std::snprintf(buf, sizeof buf, "  slow subscribers %llu: delivered %llu  gap notices %llu covering %llu  closed 1008 %llu  other closes %llu (the rest counts the fast ones)\n",
                  static_cast<unsigned long long>(r.slow_subscribers),
                  static_cast<unsigned long long>(r.slow_delivered),
                  static_cast<unsigned long long>(r.slow_gap_notices),
                  static_cast<unsigned long long>(r.slow_gaps),
                  static_cast<unsigned long long>(r.slow_closed_1008),
                  static_cast<unsigned long long>(r.slow_closed_other));
    out += buf;
  }
  if (r.scenario == "pubsub" || r.scenario == "slow") {
    std::snprintf(buf, sizeof buf, "  acked %llu  expected %llu  missing %lld  gaps %llu  order violations %llu\n",
                  static_cast<unsigned long long>(r.acked),
                  static_cast<unsigned long long>(r.expected),
                  static_cast<long long>(r.expected) - static_cast<long long>(r.received),
                  static_cast<unsigned long long>(r.gaps),
                  static_cast<unsigned long long>(r.order_violations));
    out += buf;
  }
  if (r.scenario == "connect") {
    std::snprintf(buf, sizeof buf, "  connected %llu in %.3f s (%.0f conn/s)  closed while held %llu\n",
                  static_cast<unsigned long long>(r.connections), r.connect_s, r.connect_rate_per_s(),
                  static_cast<unsigned long long>(r.closed_while_held));
    out += buf;
    append_latency_line(out, "  handshake latency", r.latency);
    if (r.probe) {
      std::snprintf(buf, sizeof buf, "  dropped %llu connections at %.2f s into the hold (the last closed %.1f ms after the deadline)\n",
                    static_cast<unsigned long long>(r.dropped), r.probe->drop_at_s,
                    static_cast<double>(r.drop_spread_ns) / 1e6);
      out += buf;
      std::snprintf(buf, sizeof buf, "  probe (%llu connection%s): %llu round trips",
                    static_cast<unsigned long long>(r.probe->connections),
                    r.probe->connections == 1 ? "" : "s",
                    static_cast<unsigned long long>(r.probe->round_trips.count()));
      out += buf;
      append_latency_line(out, ";", r.probe->round_trips);
      std::snprintf(buf, sizeof buf, "  probe during the drop (%.0f s from it): %llu round trips  p99 ",
                    probe_drop_window_s, static_cast<unsigned long long>(r.probe->during_drop.count()));
      out += buf;
      append_fixed(out, us(r.probe->during_drop.percentile(99)), 1);
      out += "  max ";
      append_fixed(out, us(r.probe->during_drop.max()), 1);
      out += " us\n";
      if (!r.probe->error.empty()) out += "  PROBE FAILED: " + r.probe->error + "\n";
    }
    if (r.server && r.server_rss_before) {
      std::snprintf(buf, sizeof buf, "  server rss %.1f -> %.1f MiB: %.0f B per connection\n",
                    static_cast<double>(*r.server_rss_before) / (1024.0 * 1024.0),
                    static_cast<double>(r.server->rss_bytes) / (1024.0 * 1024.0),
                    r.server_rss_per_connection());
      out += buf;
    }
    return out;
  }
  append_latency_line(out, r.scenario == "echo" ? "  latency" : "  end-to-end latency", r.latency);
  if (r.latency_uncorrected.count() > 0 && r.mode == "open")
    append_latency_line(out, "  (uncorrected)", r.latency_uncorrected);
  if (r.server) {
    std::snprintf(buf, sizeof buf, "  server cpu %.3f s  (%.3f us/msg)  rss %.1f MiB\n",
                  r.server->cpu_s, r.server_cpu_us_per_message(),
                  static_cast<double>(r.server->rss_bytes) / (1024.0 * 1024.0));
    out += buf;
  }
  return out;
}

std::string format_json(const run_report& r) {
  std::string out = "{\"scenario\":";
  append_string(out, r.scenario);
  out += ",\"url\":";
  append_string(out, r.url);
  out += ",\"urls\":";
  append_string_array(out, r.all_urls());
  if (!r.publish_urls.empty() || !r.subscribe_urls.empty()) {
    out += ",\"publish_urls\":";
    append_string_array(out, r.publish_urls);
    out += ",\"subscribe_urls\":";
    append_string_array(out, r.subscribe_urls);
  }
  out += ",\"mode\":";
  append_string(out, r.mode);
  auto field = [&out](const char* name, std::uint64_t v) {
    out += ",\"";
    out += name;
    out += "\":" + std::to_string(v);
  };
  field("connections", r.connections);
  field("connect_errors", r.connect_errors);
  field("threads", r.threads);
  field("processes", r.processes);
  field("size", r.size);
  out += ",\"duration_s\":";
  append_number(out, r.duration_s);
  out += ",\"interrupted\":";
  out += r.interrupted ? "true" : "false";
  field("sent", r.sent);
  field("received", r.received);
  if (r.scenario != "echo" && r.scenario != "connect") field("delivered", r.received);
  if (r.target_rate > 0) {
    out += ",\"target_rate_per_s\":";
    append_number(out, r.target_rate);
    field("intended", r.intended);
    field("missed_sends", r.missed_sends());
  }
  field("acked", r.acked);
  field("expected", r.expected);
  field("gaps", r.gaps);
  field("order_violations", r.order_violations);
  field("errors", r.errors);
  out += ",\"rate_per_s\":";
  append_number(out, r.rate_per_s());
  out += ",\"latency_us\":";
  append_latency_json(out, r.latency);
  if (r.latency_uncorrected.count() > 0) {
    out += ",\"latency_uncorrected_us\":";
    append_latency_json(out, r.latency_uncorrected);
  }
  out += ",\"timeline\":[";
  for (std::size_t i = 0; i < r.timeline.size(); ++i) {
    const timeline_point& tp = r.timeline[i];
    if (i) out += ',';
    out += '[';
    append_number(out, tp.t_s);
    out += ',' + std::to_string(tp.sent) + ',' + std::to_string(tp.received) + ',';
    append_number(out, static_cast<double>(tp.p99_ns) / 1e3);
    out += ']';
  }
  out += ']';
  out += ",\"server_cpu_s\":";
  if (r.server) append_number(out, r.server->cpu_s); else out += "null";
  out += ",\"server_cpu_us_per_message\":";
  if (r.server) append_number(out, r.server_cpu_us_per_message()); else out += "null";
  out += ",\"server_rss_bytes\":";
  out += r.server ? std::to_string(r.server->rss_bytes) : std::string("null");
  // The exact latency histogram (ns), so reports of several processes merge without loss.
  out += ",\"latency_histogram\":{\"h_min\":" + std::to_string(r.latency.min()) +
         ",\"h_max\":" + std::to_string(r.latency.max()) +
         ",\"h_clamped\":" + std::to_string(r.latency.clamped()) +
         ",\"h_sum\":" + std::to_string(r.latency.sum()) + ",\"h_buckets\":[";
  bool first = true;
  for (const auto& [index, count] : r.latency.buckets()) {
    if (!first) out += ',';
    first = false;
    out += '[' + std::to_string(index) + ',' + std::to_string(count) + ']';
  }
  out += "]}";
  if (r.scenario == "burst") append_burst_json(out, r.burst, summarize_burst(r.burst));
  if (r.scenario == "slow") {
    out += ",\"slow\":{";
    out += "\"subscribers\":" + std::to_string(r.slow_subscribers);
    out += ",\"delivered\":" + std::to_string(r.slow_delivered);
    out += ",\"gaps\":" + std::to_string(r.slow_gaps);
    out += ",\"gap_notices\":" + std::to_string(r.slow_gap_notices);
    out += ",\"closed_1008\":" + std::to_string(r.slow_closed_1008);
    out += ",\"closed_other\":" + std::to_string(r.slow_closed_other) + '}';
  }
  if (r.scenario == "connect") {
    out += ",\"connect_s\":";
    append_number(out, r.connect_s);
    out += ",\"connect_rate_per_s\":";
    append_number(out, r.connect_rate_per_s());
    field("closed_while_held", r.closed_while_held);
    out += ",\"server_rss_before_bytes\":";
    out += r.server_rss_before ? std::to_string(*r.server_rss_before) : std::string("null");
    out += ",\"server_rss_per_connection_bytes\":";
    if (r.server && r.server_rss_before) append_number(out, r.server_rss_per_connection()); else out += "null";
    field("dropped", r.dropped);
    field("drop_spread_ns", r.drop_spread_ns);
    if (r.probe) {
      out += ",\"probe\":{\"connections\":" + std::to_string(r.probe->connections);
      out += ",\"drop_at_s\":";
      append_number(out, r.probe->drop_at_s);
      out += ",\"round_trips\":" + std::to_string(r.probe->round_trips.count());
      out += ",\"latency_us\":";
      append_latency_json(out, r.probe->round_trips);
      out += ",\"during_drop_window_s\":";
      append_number(out, probe_drop_window_s);
      out += ",\"during_drop\":";
      append_latency_json(out, r.probe->during_drop);
      out += ",\"error\":";
      if (r.probe->error.empty()) out += "null"; else append_string(out, r.probe->error);
      out += '}';
    }
  }
  out += ",\"open_failures\":{";
  bool first_failure = true;
  for (const auto& [reason, count] : r.open_failures) {
    if (!first_failure) out += ',';
    first_failure = false;
    append_string(out, reason);
    out += ':' + std::to_string(count);
  }
  out += "}}\n";
  return out;
}

}  // namespace shoal::loadgen
