// Tests for loadgen/burst_report: per-subscriber tallies summarised per topic group (hot, quiet)
// into delivered vs expected, gaps, duplicates and loss; refusals by code; the text and JSON
// renderings of a burst run. Single-threaded; no sockets.
#include "loadgen/burst_report.hpp"

#include <gtest/gtest.h>

#include "loadgen/json_scan.hpp"
#include "loadgen/report.hpp"

namespace shoal::loadgen {
namespace {

subscriber_tally sub(std::uint32_t topic, std::uint64_t delivered, std::uint64_t gap_messages = 0) {
  subscriber_tally s;
  s.topic = topic;
  s.delivered = delivered;
  s.gap_messages = gap_messages;
  s.gap_notices = gap_messages > 0 ? 1 : 0;
  return s;
}

// 2 publishers x 100 to the hot topic (90 acked, 10 refused), 2 quiet topics.
burst_tallies sample() {
  burst_tallies t;
  t.pipeline = 100;
  t.publishers = 2;
  t.quiet_topics = 2;
  t.quiet_rate = 50;
  t.hot.sent = 200;
  t.hot.acked = 185;
  t.hot.refusals["overloaded"] = 10;
  t.quiet.sent = 20;
  t.quiet.acked = 20;
  t.acked_per_topic = {185, 12, 8};
  // Hot: one complete, one with a gap notice of 5 and 10 silently lost, one short by 1.
  t.subscribers = {sub(0, 185), sub(0, 170, 5), sub(0, 184), sub(1, 12), sub(2, 8)};
  t.subscribers[2].duplicates = 2;
  t.subscribers[2].order_violations = 1;
  return t;
}

TEST(BurstReport, SummarisesHotAndQuietApart) {
  const burst_summary s = summarize_burst(sample());
  EXPECT_EQ(s.hot.subscribers, 3u);
  EXPECT_EQ(s.hot.expected, 3u * 185);
  EXPECT_EQ(s.hot.delivered, 185u + 170 + 184);
  EXPECT_EQ(s.hot.delivered_min, 170u);
  EXPECT_EQ(s.hot.delivered_max, 185u);
  EXPECT_EQ(s.hot.expected_min, 185u);
  EXPECT_EQ(s.hot.expected_max, 185u);
  EXPECT_EQ(s.hot.gap_notices, 1u);
  EXPECT_EQ(s.hot.gap_messages, 5u);
  EXPECT_EQ(s.hot.duplicates, 2u);
  EXPECT_EQ(s.hot.order_violations, 1u);
  EXPECT_EQ(s.hot.loss, 10u + 1);  // announced messages are not lost
  EXPECT_EQ(s.hot.publishes.refused(), 10u);
  EXPECT_EQ(s.hot.unanswered(), 5u);
  EXPECT_FALSE(s.hot.complete());
  EXPECT_EQ(s.quiet.subscribers, 2u);
  EXPECT_EQ(s.quiet.expected, 20u);
  EXPECT_EQ(s.quiet.expected_min, 8u);
  EXPECT_EQ(s.quiet.expected_max, 12u);
  EXPECT_EQ(s.quiet.loss, 0u);
  EXPECT_TRUE(s.quiet.complete());
}

TEST(BurstReport, LossIsNeverNegativePerSubscriber) {
  burst_tallies t;
  t.acked_per_topic = {10};
  t.subscribers = {sub(0, 10, 3), sub(0, 6)};  // one over-accounted, one short by 4
  const burst_summary s = summarize_burst(t);
  EXPECT_EQ(s.hot.loss, 4u);
}

TEST(BurstReport, PublishTalliesAddUpByCode) {
  publish_tally a, b;
  a.sent = 5;
  a.refusals["overloaded"] = 2;
  b.sent = 7;
  b.acked = 7;
  b.unmatched = 1;
  b.refusals["overloaded"] = 1;
  b.refusals["internal"] = 1;
  a.add(b);
  EXPECT_EQ(a.sent, 12u);
  EXPECT_EQ(a.acked, 7u);
  EXPECT_EQ(a.unmatched, 1u);
  EXPECT_EQ(a.refusals["overloaded"], 3u);
  EXPECT_EQ(a.refused(), 4u);
}

TEST(BurstReport, JsonAndSummaryCarryTheGroups) {
  run_report r;
  r.scenario = "burst";
  r.mode = "pipeline";
  r.url = "ws://127.0.0.1:1/ws";
  r.burst = sample();
  const std::string json = format_json(r);
  const std::size_t hot = json_find_member(json, "hot");
  const std::size_t quiet = json_find_member(json, "quiet");
  ASSERT_NE(hot, std::string_view::npos) << json;
  ASSERT_NE(quiet, std::string_view::npos) << json;
  EXPECT_EQ(json_uint_member(json, "pipeline"), 100u);
  EXPECT_EQ(json_uint_member(json, "sent", hot), 200u);
  EXPECT_EQ(json_uint_member(json, "refused", hot), 10u);
  EXPECT_EQ(json_uint_member(json, "overloaded", hot), 10u);
  EXPECT_EQ(json_uint_member(json, "unanswered", hot), 5u);
  EXPECT_EQ(json_uint_member(json, "delivered_min", hot), 170u);
  EXPECT_EQ(json_uint_member(json, "gap_messages", hot), 5u);
  EXPECT_EQ(json_uint_member(json, "loss", hot), 11u);
  EXPECT_EQ(json_uint_member(json, "expected", quiet), 20u);
  const std::string text = format_summary(r);
  for (const char* words : {"refusals by code: overloaded 10", "delivered 539 of 555 expected",
                            "lost 11", "NOT COMPLETE (hot topic)", "quiet topics: 2"})
    EXPECT_NE(text.find(words), std::string::npos) << words << " in\n" << text;
  EXPECT_EQ(text.find("NOT COMPLETE (quiet"), std::string::npos) << text;
}

TEST(BurstReport, WithoutQuietTopicsNoQuietGroup) {
  run_report r;
  r.scenario = "burst";
  r.burst.pipeline = 3;
  r.burst.publishers = 1;
  r.burst.hot.sent = r.burst.hot.acked = 3;
  r.burst.acked_per_topic = {3};
  r.burst.subscribers = {sub(0, 3)};
  const std::string json = format_json(r);
  EXPECT_EQ(json_find_member(json, "quiet"), std::string_view::npos) << json;
  EXPECT_TRUE(summarize_burst(r.burst).hot.complete());
  EXPECT_EQ(format_summary(r).find("NOT COMPLETE"), std::string::npos);
}

}  // namespace
}  // namespace shoal::loadgen
