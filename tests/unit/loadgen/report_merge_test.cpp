// Tests for loadgen/report_merge: a report survives format_json -> parse_report_json with its
// histogram bucket for bucket, and the reports of several processes merge into the same figures
// as one histogram fed every value (counts summed, server samples the largest). No processes.
#include "loadgen/report_merge.hpp"

#include <gtest/gtest.h>

#include <random>

namespace shoal::loadgen {
namespace {

run_report sample_report(std::mt19937_64& rng, std::uint64_t n, histogram& all) {
  run_report r;
  r.scenario = "connect";
  r.mode = "hold";
  r.url = "ws://127.0.0.1:1/echo";
  r.connections = n;
  r.connect_errors = 1;
  r.threads = 2;
  r.duration_s = 1.5;
  r.connect_s = 0.25;
  r.sent = 3 * n;
  r.received = 3 * n;
  r.server = server_usage{0.5, 1000 + n};
  r.server_rss_before = 100;
  std::lognormal_distribution<double> d(10.0, 1.5);
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto v = static_cast<std::uint64_t>(d(rng)) + 1;
    r.latency.record(v);
    all.record(v);
  }
  return r;
}

TEST(ReportMerge, JsonRoundTripKeepsEveryBucket) {
  std::mt19937_64 rng(7);
  histogram all;
  const run_report r = sample_report(rng, 5000, all);
  const auto back = parse_report_json(format_json(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->scenario, "connect");
  EXPECT_EQ(back->connections, r.connections);
  EXPECT_EQ(back->sent, r.sent);
  EXPECT_EQ(back->latency.buckets(), r.latency.buckets());
  EXPECT_EQ(back->latency.min(), r.latency.min());
  EXPECT_EQ(back->latency.max(), r.latency.max());
  EXPECT_EQ(back->latency.count(), 5000u);
  ASSERT_TRUE(back->server_rss_before);
  EXPECT_EQ(*back->server_rss_before, 100u);
  EXPECT_DOUBLE_EQ(back->connect_s, 0.25);
}

TEST(ReportMerge, MergedProcessesEqualOneHistogramOfEveryValue) {
  std::mt19937_64 rng(11);
  histogram all;
  run_report total;
  std::uint64_t connections = 0;
  for (std::uint64_t n : {1000u, 2500u, 7u}) {
    const auto part = parse_report_json(format_json(sample_report(rng, n, all)));
    ASSERT_TRUE(part);
    merge_report(total, *part);
    connections += n;
  }
  EXPECT_EQ(total.connections, connections);
  EXPECT_EQ(total.connect_errors, 3u);
  EXPECT_EQ(total.threads, 6u);
  EXPECT_EQ(total.latency.count(), all.count());
  EXPECT_EQ(total.latency.buckets(), all.buckets());
  for (double p : {50.0, 90.0, 99.0, 99.9, 99.99, 100.0})
    EXPECT_EQ(total.latency.percentile(p), all.percentile(p)) << p;
  EXPECT_EQ(total.latency.max(), all.max());
  ASSERT_TRUE(total.server);
  EXPECT_EQ(total.server->rss_bytes, 1000u + 2500u);  // the largest sample, not a sum
  EXPECT_DOUBLE_EQ(total.server->cpu_s, 0.5);
}

TEST(ReportMerge, OpenLoopIntendedSendsAddUpOverProcesses) {
  run_report total;
  std::uint64_t sent = 0;
  for (std::uint64_t k = 0; k < 3; ++k) {
    run_report part;
    part.scenario = "echo";
    part.mode = "open";
    part.url = "ws://127.0.0.1:1/echo";
    part.duration_s = 2;
    part.target_rate = 1000;   // each process's share of --rate 3000
    part.intended = 2000;
    part.sent = 1000 + 500 * k;  // 1000, 1500, 2000
    sent += part.sent;
    const auto back = parse_report_json(format_json(part));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->intended, 2000u);
    EXPECT_DOUBLE_EQ(back->target_rate, 1000);
    merge_report(total, *back);
  }
  EXPECT_DOUBLE_EQ(total.target_rate, 3000);
  EXPECT_EQ(total.intended, 6000u);
  EXPECT_EQ(total.sent, sent);
  EXPECT_EQ(total.missed_sends(), 1500u);
  EXPECT_TRUE(total.rate_missed());
}

TEST(ReportMerge, DroppedConnectionsAddUpAndTheSpreadIsTheLongest) {
  std::mt19937_64 rng(11);
  histogram all;
  run_report total;
  for (const std::uint64_t spread : {3'000'000u, 9'000'000u, 5'000'000u}) {
    run_report part = sample_report(rng, 100, all);
    part.dropped = 100;
    part.drop_spread_ns = spread;
    const auto back = parse_report_json(format_json(part));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->dropped, 100u);
    merge_report(total, *back);
  }
  EXPECT_EQ(total.dropped, 300u);
  EXPECT_EQ(total.drop_spread_ns, 9'000'000u);
}

// Issue 16: the reasons connections did not open survive the child's JSON (escapes included)
// and add up over processes.
TEST(ReportMerge, OpenFailuresAddUpByReason) {
  std::mt19937_64 rng(5);
  histogram all;
  run_report total;
  const std::map<std::string, std::uint64_t> parts[] = {
      {{"HTTP 401", 3}, {"auth refused: \"odd\\code\"", 1}},
      {},
      {{"HTTP 401", 2}, {"unanswered: auth", 4}}};
  for (const auto& failures : parts) {
    run_report part = sample_report(rng, 10, all);
    part.open_failures = failures;
    const auto back = parse_report_json(format_json(part));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->open_failures, failures);
    merge_report(total, *back);
  }
  EXPECT_EQ(total.open_failures, (std::map<std::string, std::uint64_t>{
                                     {"HTTP 401", 5}, {"auth refused: \"odd\\code\"", 1}, {"unanswered: auth", 4}}));
}

TEST(ReportMerge, RejectsTextThatIsNotAReport) {
  EXPECT_FALSE(parse_report_json("{}"));
  EXPECT_FALSE(parse_report_json(R"({"scenario":"echo","mode":"closed","url":"x"})"));
}

}  // namespace
}  // namespace shoal::loadgen
