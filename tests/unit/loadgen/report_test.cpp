// Tests for loadgen/report (the JSON report holds every documented field and is valid JSON, the
// summary names the key figures), loadgen/proc_stats parsers and the json_scan helpers used on
// server messages. Single-threaded; no processes or sockets.
#include "loadgen/report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <map>
#include <string>

#include "loadgen/json_scan.hpp"
#include "loadgen/proc_stats.hpp"
#include "loadgen/url.hpp"

namespace shoal::loadgen {
namespace {

// A minimal JSON checker: recognises one value and records top-level object members by name
// (their raw text). Enough to prove the report parses.
class json_checker {
 public:
  explicit json_checker(std::string_view text) : s_(text) {}
  bool parse_document() {
    ws();
    if (!value(0)) return false;
    ws();
    return pos_ == s_.size();
  }
  std::map<std::string, std::string> top;

 private:
  void ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool string(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      if (static_cast<unsigned char>(s_[pos_]) < 0x20) return false;
      if (s_[pos_] == '\\') ++pos_;
      if (out) *out += s_[pos_];
      ++pos_;
    }
    if (pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  bool number() {
    const std::size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                s_[pos_] == 'e' || s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-'))
      ++pos_;
    return pos_ > start && std::isdigit(static_cast<unsigned char>(s_[pos_ - 1]));
  }
  bool value(int depth) {
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') {
      ++pos_;
      ws();
      if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
      for (;;) {
        ws();
        if (!value(depth + 1)) return false;
        ws();
        if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
        return false;
      }
    }
    if (c == '"') return string(nullptr);
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }
  bool object(int depth) {
    ++pos_;
    ws();
    if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
    for (;;) {
      ws();
      std::string name;
      if (!string(&name)) return false;
      ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return false;
      ++pos_;
      ws();
      const std::size_t start = pos_;
      if (!value(depth + 1)) return false;
      if (depth == 0) top[name] = std::string(s_.substr(start, pos_ - start));
      ws();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
      return false;
    }
  }
  std::string_view s_;
  std::size_t pos_ = 0;
};

run_report sample_report(const std::string& scenario) {
  run_report r;
  r.scenario = scenario;
  r.url = "ws://127.0.0.1:8080/\"x\"";
  r.mode = "rate";
  r.connections = 102;
  r.threads = 2;
  r.size = 128;
  r.duration_s = 2.5;
  r.sent = 1000;
  r.acked = 1000;
  r.received = 9990;
  r.expected = 10000;
  r.gaps = 10;
  r.order_violations = 1;
  for (std::uint64_t v = 1; v <= 10000; ++v) r.latency.record(v * 1000);
  r.server = server_usage{1.25, 12u << 20};
  return r;
}

TEST(Report, JsonHasEveryFieldAndParses) {
  const run_report r = sample_report("pubsub");
  const std::string json = format_json(r);
  json_checker check(json);
  ASSERT_TRUE(check.parse_document()) << json;
  for (const char* key : {"scenario", "connections", "duration_s", "sent", "received", "delivered",
                          "expected", "gaps", "order_violations", "rate_per_s", "latency_us",
                          "server_cpu_s", "server_cpu_us_per_message", "server_rss_bytes"}) {
    EXPECT_TRUE(check.top.count(key)) << key << " missing in " << json;
  }
  EXPECT_EQ(check.top["scenario"], "\"pubsub\"");
  EXPECT_EQ(check.top["delivered"], "9990");
  EXPECT_EQ(check.top["expected"], "10000");
  EXPECT_EQ(check.top["server_rss_bytes"], std::to_string(12u << 20));
  EXPECT_EQ(check.top["rate_per_s"], "3996.000");
  // 1.25 s of CPU over 9990 deliveries.
  EXPECT_NEAR(std::stod(check.top["server_cpu_us_per_message"]), 1.25e6 / 9990, 1e-3);
  const std::string& lat = check.top["latency_us"];
  for (const char* key : {"\"p50\":", "\"p90\":", "\"p99\":", "\"p99.9\":", "\"p99.99\":", "\"max\":"})
    EXPECT_NE(lat.find(key), std::string::npos) << key;
  EXPECT_NEAR(static_cast<double>(*json_uint_member(lat, "max")), 10000.0, 1.0);
}

TEST(Report, JsonWithoutServerUsesNull) {
  run_report r = sample_report("echo");
  r.server.reset();
  const std::string json = format_json(r);
  json_checker check(json);
  ASSERT_TRUE(check.parse_document()) << json;
  EXPECT_EQ(check.top["server_cpu_s"], "null");
  EXPECT_EQ(check.top["server_rss_bytes"], "null");
  EXPECT_FALSE(check.top.count("delivered"));
}

TEST(Report, SummaryNamesTheKeyFigures) {
  const std::string text = format_summary(sample_report("pubsub"));
  for (const char* word : {"delivered 9990", "expected 10000", "gaps 10", "order violations 1", "p99.99",
                           "server cpu 1.250 s"})
    EXPECT_NE(text.find(word), std::string::npos) << word << " in\n" << text;
}

run_report drop_report() {
  run_report r;
  r.scenario = "connect";
  r.mode = "hold";
  r.url = "ws://127.0.0.1:1/echo";
  r.connections = 300;
  r.dropped = 300;
  r.drop_spread_ns = 4'000'000;
  probe_report p;
  p.connections = 1;
  p.drop_at_s = 1;
  for (std::uint64_t v = 1; v <= 1000; ++v) p.round_trips.record(v * 1000);
  for (std::uint64_t v = 1; v <= 100; ++v) p.during_drop.record(v * 100'000);
  r.probe = p;
  return r;
}

// Issue 16: connections that never opened, by reason, in the JSON and in the summary (most
// frequent first), and nothing of it when every connection opened.
TEST(Report, OpenFailuresByReason) {
  run_report r = sample_report("connect");
  EXPECT_EQ(format_summary(r).find("failed to open"), std::string::npos);
  EXPECT_NE(format_json(r).find(R"("open_failures":{})"), std::string::npos);
  r.open_failures = {{"HTTP 401", 7}, {"auth refused: unauthorized", 2}, {"unanswered: auth", 9}};
  const std::string json = format_json(r);
  json_checker check(json);
  ASSERT_TRUE(check.parse_document()) << json;
  EXPECT_EQ(check.top["open_failures"], R"({"HTTP 401":7,"auth refused: unauthorized":2,"unanswered: auth":9})");
  EXPECT_NE(format_summary(r).find("failed to open, by reason: 9 unanswered: auth; 7 HTTP 401; 2 auth refused: unauthorized\n"),
            std::string::npos)
      << format_summary(r);
}

TEST(Report, DropRunHasTheProbeObject) {
  const std::string json = format_json(drop_report());
  json_checker check(json);
  ASSERT_TRUE(check.parse_document()) << json;
  EXPECT_EQ(check.top["dropped"], "300");
  const std::string& probe = check.top["probe"];
  EXPECT_EQ(json_uint_member(probe, "round_trips"), 1000u);
  EXPECT_NE(probe.find("\"error\":null"), std::string::npos) << probe;
  const std::size_t during = probe.find("\"during_drop\":");
  ASSERT_NE(during, std::string::npos) << probe;
  EXPECT_EQ(json_uint_member(probe, "count", during), 100u);
  EXPECT_NEAR(static_cast<double>(*json_uint_member(probe, "max", during)), 10000.0, 1.0);
}

TEST(Report, DropRunSummaryNamesTheProbeAndItsFailure) {
  run_report r = drop_report();
  std::string text = format_summary(r);
  for (const char* word : {"dropped 300 connections at 1.00 s", "1000 round trips",
                           "probe during the drop (2 s from it): 100 round trips", "max 10000.0 us"})
    EXPECT_NE(text.find(word), std::string::npos) << word << " in\n" << text;
  EXPECT_EQ(text.find("PROBE FAILED"), std::string::npos);
  r.probe->error = "a probe connection was closed: x";
  text = format_summary(r);
  EXPECT_NE(text.find("PROBE FAILED: a probe connection was closed: x"), std::string::npos) << text;
}

TEST(Report, OpenLoopReportsIntendedAndMissedSends) {
  run_report r = sample_report("pubsub");
  r.target_rate = 20000;
  r.intended = 50000;  // 20,000/s x 2.5 s
  r.sent = 6160;
  EXPECT_EQ(r.missed_sends(), 43840u);
  EXPECT_TRUE(r.rate_missed());
  const std::string json = format_json(r);
  json_checker check(json);
  ASSERT_TRUE(check.parse_document()) << json;
  EXPECT_EQ(check.top["intended"], "50000");
  EXPECT_EQ(check.top["missed_sends"], "43840");
  EXPECT_EQ(check.top["target_rate_per_s"], "20000.000");
  const std::string text = format_summary(r);
  EXPECT_NE(text.find("intended 50000  sent 6160  missed sends 43840"), std::string::npos) << text;
  EXPECT_NE(text.find("WARNING: the load generator did not keep the rate"), std::string::npos) << text;
  EXPECT_EQ(missed_rate_warning(r).rfind("WARNING", 0), 0u);
}

TEST(Report, OpenLoopWithin95PercentHasNoWarning) {
  run_report r = sample_report("echo");
  r.target_rate = 400;
  r.intended = 1000;
  r.sent = 950;
  EXPECT_FALSE(r.rate_missed());
  EXPECT_EQ(r.missed_sends(), 50u);
  EXPECT_TRUE(missed_rate_warning(r).empty());
  EXPECT_EQ(format_summary(r).find("WARNING"), std::string::npos);
  r.sent = 1001;  // the schedule's first send is at 0: one over is no negative miss
  EXPECT_EQ(r.missed_sends(), 0u);
}

TEST(Report, ClosedLoopHasNoIntendedFields) {
  run_report r = sample_report("echo");
  const std::string json = format_json(r);  // the checker keeps a view of it
  json_checker check(json);
  ASSERT_TRUE(check.parse_document());
  EXPECT_FALSE(check.top.count("intended"));
  EXPECT_FALSE(check.top.count("missed_sends"));
  EXPECT_EQ(format_summary(r).find("intended"), std::string::npos);
}

TEST(ProcStats, ParsesStatAndStatus) {
  // Field 2 may hold spaces and parentheses; utime (14) = 150, stime (15) = 50.
  const std::string stat = "1234 (sho al) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0";
  EXPECT_EQ(parse_stat_cpu_ticks(stat), 200u);
  EXPECT_FALSE(parse_stat_cpu_ticks("garbage"));
  EXPECT_EQ(parse_status_rss_bytes("Name:\tshoal\nVmRSS:\t   9012 kB\nThreads: 3\n"), 9012u * 1024);
  EXPECT_FALSE(parse_status_rss_bytes("Name: x\n"));
  EXPECT_TRUE(read_cpu_seconds(static_cast<int>(getpid())).has_value());
  EXPECT_GT(read_rss_bytes(static_cast<int>(getpid())).value_or(0), 0u);
}

TEST(JsonScan, ReadsServerMessages) {
  const std::string_view msg =
      R"({"op":"msg","topic":"lg.3","seq":42,"data":{"t":123456789,"p":1,"n":7,"pad":"xx"}})";
  EXPECT_EQ(json_string_member(msg, "op"), "msg");
  EXPECT_EQ(json_string_member(msg, "topic"), "lg.3");
  EXPECT_EQ(json_uint_member(msg, "seq"), 42u);
  EXPECT_EQ(json_uint_member(msg, "t", json_find_member(msg, "data")), 123456789u);
  EXPECT_EQ(json_uint_member(msg, "n"), 7u);
  EXPECT_FALSE(json_uint_member(msg, "missing"));
  EXPECT_FALSE(json_uint_member(R"({"topic":"t"})", "t"));  // "t" inside a longer name is no match
}

TEST(Url, ParsesWsUrls) {
  std::string err;
  auto t = parse_ws_url("ws://127.0.0.1:9000/ws?x=1", err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->host, "127.0.0.1:9000");
  EXPECT_EQ(t->path, "/ws?x=1");
  EXPECT_EQ(t->port, "9000");
  t = parse_ws_url("ws://[::1]", err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->path, "/");
  EXPECT_EQ(t->port, "80");
  EXPECT_FALSE(t->tls);
  EXPECT_EQ(t->server_name, "::1");
  t = parse_ws_url("wss://localhost/echo", err);
  ASSERT_TRUE(t) << err;
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->port, "443");
  EXPECT_EQ(t->server_name, "localhost");
  EXPECT_EQ(t->host, "localhost");
  EXPECT_FALSE(parse_ws_url("http://x/", err));
  EXPECT_FALSE(parse_ws_url("ws://host:abc/", err));
}

}  // namespace
}  // namespace shoal::loadgen
