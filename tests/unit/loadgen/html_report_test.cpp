// The HTML report and the timeline: the page holds the figures, both plots and no unescaped
// text from the report; the timeline goes through the JSON report of a child process and merges
// second by second.
#include "loadgen/html_report.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "loadgen/report_merge.hpp"

namespace shoal::loadgen {
namespace {

run_report sample_report() {
  run_report r;
  r.scenario = "echo";
  r.url = "ws://127.0.0.1:8080/echo?<script>";
  r.mode = "closed";
  r.connections = 10;
  r.threads = 2;
  r.size = 20;
  r.duration_s = 3;
  r.sent = r.received = 3000;
  for (std::uint64_t v = 1; v <= 1000; ++v) r.latency.record(v * 1000);  // 1 µs .. 1 ms
  r.timeline = {{1.0, 900, 899, 990'000}, {2.0, 1100, 1100, 990'000}, {3.0, 1000, 1001, 990'000}};
  return r;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(HtmlReport, HoldsTheFiguresAndBothPlots) {
  const run_report r = sample_report();
  const std::string html = format_html(r);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(occurrences(html, "<svg"), 2u);
  EXPECT_EQ(occurrences(html, "<polyline"), 3u);  // sent and received over time, the latency curve
  EXPECT_NE(html.find("Throughput over the measured window"), std::string::npos);
  EXPECT_NE(html.find("Latency by percentile"), std::string::npos);
  char p99[64];
  std::snprintf(p99, sizeof p99, "<td>latency p99 (µs)</td><td>%.1f</td>",
                static_cast<double>(r.latency.percentile(99)) / 1e3);
  EXPECT_NE(html.find(p99), std::string::npos) << html;
  EXPECT_NEAR(static_cast<double>(r.latency.percentile(99)) / 1e3, 990.0, 990.0 / 256);
  EXPECT_NE(html.find("<td>sent</td><td>3000</td>"), std::string::npos);
  EXPECT_EQ(html.find("<script>"), std::string::npos);  // the URL is escaped
  EXPECT_NE(html.find("echo?&lt;script&gt;"), std::string::npos);
  // Nothing to fetch: no external script, style sheet or image.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
}

TEST(HtmlReport, ThroughputPointsAreRatesPerSecond) {
  run_report r = sample_report();
  r.timeline = {{0.5, 500, 500, 0}, {1.5, 2000, 2000, 0}};  // 1000/s, then 2000/s
  const std::string html = format_html(r);
  // y axis: nice maximum 2000, so the ticks are 0, 500, ... 2000.
  EXPECT_NE(html.find(">2000</text>"), std::string::npos);
  EXPECT_EQ(html.find(">4000</text>"), std::string::npos);
}

TEST(Timeline, RoundTripsThroughJsonAndMergesBySecond) {
  const run_report a = sample_report();
  const auto parsed = parse_report_json(format_json(a));
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->timeline.size(), 3u);
  EXPECT_EQ(parsed->timeline[1].sent, 1100u);
  EXPECT_EQ(parsed->timeline[2].received, 1001u);
  EXPECT_EQ(parsed->timeline[0].p99_ns, 990'000u);
  run_report b = sample_report();
  b.timeline.resize(2);
  b.timeline[1].p99_ns = 2'000'000;
  run_report total;
  merge_report(total, *parsed);
  merge_report(total, b);
  ASSERT_EQ(total.timeline.size(), 3u);
  EXPECT_EQ(total.timeline[0].sent, 1800u);
  EXPECT_EQ(total.timeline[1].p99_ns, 2'000'000u);  // the worse of the two
  EXPECT_EQ(total.timeline[2].sent, 1000u);          // only one process had a third second
}

}  // namespace
}  // namespace shoal::loadgen
