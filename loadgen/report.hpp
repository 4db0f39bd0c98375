// The result of one run: counters, the merged latency histogram, server CPU and memory, and
// its two renderings (a human summary and a JSON object). Built by the main thread after the
// worker threads have joined; plain values, no sharing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/burst_report.hpp"
#include "loadgen/histogram.hpp"

namespace shoal::loadgen {

struct server_usage {
  double cpu_s = 0;              // utime + stime over the measured window
  std::uint64_t rss_bytes = 0;   // VmRSS at the end of the window
};

// One second of the measured window: what was sent and received in it, and the worst worker
// thread's p99 so far (workers publish theirs once a second).
struct timeline_point {
  double t_s = 0;              // end of the interval, seconds since the window began
  std::uint64_t sent = 0;      // in this interval
  std::uint64_t received = 0;  // in this interval
  std::uint64_t p99_ns = 0;
  friend bool operator==(const timeline_point&, const timeline_point&) = default;
};

// connect --drop-all-at: the echo probe's round trips (ns), measured by separate connections
// that are not dropped. `during_drop` holds the round trips in flight at any moment from the drop
// to 2 s after it (answered at or after the drop, sent before its end).
struct probe_report {
  std::uint64_t connections = 0;
  double drop_at_s = 0;         // into the hold
  histogram round_trips;        // every round trip of the hold
  histogram during_drop;
  std::string error;            // empty when every probe message came back as sent
};
inline constexpr double probe_drop_window_s = 2.0;

struct run_report {
  std::string scenario;          // "echo", "pubsub", "slow", "burst" or "connect"
  std::string url;               // the first of `urls` (what older readers of the JSON know)
  // Every URL the run connected to, once each, in command-line order (several gateway nodes).
  // An empty list stands for {url}.
  std::vector<std::string> urls;
  // pubsub, slow, burst with --publish-url or --subscribe-url: the round-robin lists publishers
  // and subscribers used (as given; one of them may be the --url list); empty otherwise.
  std::vector<std::string> publish_urls;
  std::vector<std::string> subscribe_urls;
  std::string mode;              // "closed", "open", "rate", "burst" or "pipeline"
  std::uint64_t connections = 0;      // connections that opened
  std::uint64_t connect_errors = 0;   // connections that failed to open or closed early
  // The connections of connect_errors that never opened, by reason: the HTTP status of a refused
  // upgrade ("HTTP 401"), an auth message's refusal ("auth refused: unauthorized"), "closed
  // during auth", a socket error, ...; and "unanswered: <step>" for those still waiting when the
  // run ended (a warm-up timeout).
  std::map<std::string, std::uint64_t> open_failures;
  unsigned threads = 0;
  std::uint64_t processes = 1;        // processes whose reports were merged
  std::uint64_t size = 0;             // payload bytes per message
  double duration_s = 0;              // the measured window
  bool interrupted = false;           // stopped by SIGINT: a partial report
  std::uint64_t sent = 0;             // echo: messages sent; pubsub: published
  // Open loop (--rate): the rate asked for, and how many sends its schedule called for over the
  // window. A sender that fell behind sent fewer: the server saw less load than asked.
  double target_rate = 0;             // messages/s; 0 when not open loop
  std::uint64_t intended = 0;
  std::uint64_t acked = 0;            // pubsub: publishes acknowledged
  std::uint64_t received = 0;         // echo: echoes received; pubsub: deliveries
  std::uint64_t expected = 0;         // pubsub: acks x subscribers of the topic
  std::uint64_t gaps = 0;             // pubsub: messages announced missing by "gap"
  std::uint64_t order_violations = 0; // pubsub: seq not increasing per subscriber
  std::uint64_t errors = 0;           // protocol or "error" replies
  histogram latency;                  // ns; corrected (from intended send time) in open loop
  histogram latency_uncorrected;      // ns; from the actual send time (echo only, may be empty)
  std::optional<server_usage> server;
  std::vector<timeline_point> timeline;  // one point per second of the window (and the last part)
  // slow scenario: the slow subscribers, apart (the fields above count the fast ones)
  std::uint64_t slow_subscribers = 0;
  std::uint64_t slow_delivered = 0;
  std::uint64_t slow_gaps = 0;          // messages covered by the gap notices they got
  std::uint64_t slow_gap_notices = 0;
  std::uint64_t slow_closed_1008 = 0;   // closed by the server with 1008 (policy close)
  std::uint64_t slow_closed_other = 0;
  burst_tallies burst;                  // burst scenario
  // connect scenario
  double connect_s = 0;                      // first connect() to the last connection settled
  std::uint64_t closed_while_held = 0;       // opened, then closed before the end of the window
  std::optional<std::uint64_t> server_rss_before;  // VmRSS before the first connection
  // connect --drop-all-at
  std::uint64_t dropped = 0;                 // connections closed at once at the drop
  std::uint64_t drop_spread_ns = 0;          // the drop's deadline to the last of them closed
  std::optional<probe_report> probe;         // the parent's probe (never from a child)

  double connect_rate_per_s() const noexcept {
    return connect_s > 0 ? static_cast<double>(connections) / connect_s : 0.0;
  }
  // (VmRSS at the end of the window - VmRSS before connecting) / connections; 0 if unknown.
  double server_rss_per_connection() const noexcept;

  // Open loop: intended sends that were not sent (k6's dropped iterations).
  std::uint64_t missed_sends() const noexcept { return intended > sent ? intended - sent : 0; }
  // Open loop: fewer than 95% of the intended sends went out.
  bool rate_missed() const noexcept {
    return target_rate > 0 && static_cast<double>(sent) < 0.95 * static_cast<double>(intended);
  }
  double rate_per_s() const noexcept {
    return duration_s > 0 ? static_cast<double>(received) / duration_s : 0.0;
  }
  // Server CPU µs per message: per echo received, or per delivery (pubsub).
  double server_cpu_us_per_message() const noexcept;
  // `urls`, or {url} when it is empty.
  std::vector<std::string> all_urls() const;
};

// The warning printed when an open-loop run could not keep its rate; empty when it did.
std::string missed_rate_warning(const run_report& r);
// The summary printed on stdout.
std::string format_summary(const run_report& r);
// One JSON object (and a newline) with every field of the report; latencies in µs; the
// timeline as "timeline":[[t_s, sent, received, p99_us], ...]; "url" the first URL and "urls"
// all of them ("publish_urls" and "subscribe_urls" when the roles were split); last,
// "open_failures":{"HTTP 401":3,...} (empty when every connection opened).
std::string format_json(const run_report& r);
// "3 HTTP 401; 1 unanswered: auth": open_failures for a line of text, most frequent first.
std::string format_open_failures(const std::map<std::string, std::uint64_t>& failures);
// "a, b, c": a list of URLs for a line of text.
std::string join_urls(const std::vector<std::string>& urls);

}  // namespace shoal::loadgen
