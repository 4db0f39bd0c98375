// Tests for the cluster's record format and JetStream answer parsing (cluster_codec.hpp): every
// record body round-trips, malformed bodies are refused rather than half read, and the publish
// answers JetStream 2.9 gives (stored, duplicate, wrong last sequence) are told apart.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/cluster_codec.hpp"

namespace shoal::gateway::cluster {
namespace {

TEST(ClusterCodec, ParsesDecimalsStrictly) {
  EXPECT_EQ(parse_decimal("0"), 0u);
  EXPECT_EQ(parse_decimal("18446744073709551615"), 18446744073709551615ull);
  EXPECT_FALSE(parse_decimal("18446744073709551616"));
  EXPECT_FALSE(parse_decimal(""));
  EXPECT_FALSE(parse_decimal("-1"));
  EXPECT_FALSE(parse_decimal("+1"));
  EXPECT_FALSE(parse_decimal("1 "));
  EXPECT_FALSE(parse_decimal("0x10"));
}

TEST(ClusterCodec, OneMessageIsTheBodyAsIs) {
  std::vector<std::string_view> parts;
  ASSERT_TRUE(split_record(R"({"a":1})", 1, parts));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0], R"({"a":1})");
}

TEST(ClusterCodec, SeveralMessagesRoundTrip) {
  const std::vector<std::string> messages = {"1", R"("x:y")", std::string(1000, 'z'), "{}", R"([1,2,"3:4"])"};
  std::string body;
  std::size_t expected = 0;
  for (const auto& m : messages) {
    append_entry(body, m);
    expected += entry_size(m);
  }
  EXPECT_EQ(body.size(), expected);
  std::vector<std::string_view> parts;
  ASSERT_TRUE(split_record(body, messages.size(), parts));
  ASSERT_EQ(parts.size(), messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) EXPECT_EQ(parts[i], messages[i]);
}

TEST(ClusterCodec, RefusesMalformedBodies) {
  std::string body;
  append_entry(body, "abc");
  append_entry(body, "de");
  std::vector<std::string_view> parts;
  EXPECT_FALSE(split_record(body, 3, parts)) << "fewer entries than the count";
  EXPECT_TRUE(parts.empty());
  EXPECT_FALSE(split_record(body, 1 + 0, parts) && parts.size() != 1);
  EXPECT_FALSE(split_record(body.substr(0, body.size() - 1), 2, parts)) << "truncated";
  EXPECT_FALSE(split_record(body + "x", 2, parts)) << "trailing bytes";
  EXPECT_FALSE(split_record("4:abc", 2, parts)) << "length beyond the body";
  EXPECT_FALSE(split_record(":abc", 2, parts)) << "no length";
  EXPECT_FALSE(split_record("99999999999999999999:a", 2, parts)) << "length overflows";
  EXPECT_FALSE(split_record("-1:a1:b", 2, parts));
  EXPECT_FALSE(split_record("", 0, parts)) << "a record holds at least one message";
}

TEST(ClusterCodec, ReadsStoredAnswers) {
  const publish_ack a = parse_publish_ack(R"({"stream":"SHOAL", "seq":42})");
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.seq, 42u);
  const publish_ack d = parse_publish_ack(R"({"stream":"SHOAL","seq":7,"duplicate":true})");
  EXPECT_TRUE(d.ok);
  EXPECT_EQ(d.seq, 7u);
}

TEST(ClusterCodec, ReadsRefusals) {
  // As nats-server 2.9.10 answers a fenced publish that lost the race.
  const publish_ack w = parse_publish_ack(
      R"({"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2"},"stream":"SHOAL","seq":0})");
  EXPECT_FALSE(w.ok);
  EXPECT_EQ(w.err_code, err_wrong_last_sequence);
  EXPECT_EQ(w.description, "wrong last sequence: 2");
  const publish_ack other = parse_publish_ack(R"({"error":{"code":503,"description":"no quorum"}})");
  EXPECT_FALSE(other.ok);
  EXPECT_EQ(other.err_code, 0u);
  EXPECT_EQ(other.description, "no quorum");
  EXPECT_FALSE(parse_publish_ack("not json").ok);
  EXPECT_FALSE(parse_publish_ack(R"({"stream":"S"})").ok) << "no sequence";
  EXPECT_FALSE(parse_publish_ack(R"({"stream":"S","seq":0})").ok) << "sequence 0 is never a stored record";
}

}  // namespace
}  // namespace shoal::gateway::cluster
