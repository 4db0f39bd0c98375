// Tests for topic patterns and topic_permissions: every pattern form allowed and denied (exact,
// `*` at start, middle and end, `>` at the end and alone), the rules that make a pattern invalid,
// separator mismatches, and permissions mixing exact names with patterns. Single-threaded.
#include "core/topic_pattern.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace shoal::core {
namespace {

constexpr std::size_t max_len = 200;

bool valid(std::string_view p) { return is_valid_topic_pattern(p, max_len); }

TEST(TopicPattern, ValidPatterns) {
  for (std::string_view p : {"a", "prices.btc", "prices/btc", "a.b/c", "*", ">", "*.*", "a.*",
                             "*.b", "a.*.c", "a.>", "*.>", "a/*/>", "A-Z_09:x", "x.y.z.w"}) {
    EXPECT_TRUE(valid(p)) << p;
  }
}

TEST(TopicPattern, InvalidPatterns) {
  for (std::string_view p : {"", ".", "/", ".a", "a.", "/a", "a/", "a..b", "a//b", "a./b",
                             "pri*", "*x", "a.b*", ">a", "a>", "a.>.b", ">.a", ">.>", "**",
                             "a.**", "a b", "a\tb", "a#b", "a+b", "a.>/", "é"}) {
    EXPECT_FALSE(valid(p)) << p;
  }
}

TEST(TopicPattern, LengthBounds) {
  const std::string at_max(max_len, 'a');
  EXPECT_TRUE(valid(at_max));
  EXPECT_FALSE(valid(at_max + "a"));
  EXPECT_TRUE(is_valid_topic_pattern("*", 1));
  EXPECT_FALSE(is_valid_topic_pattern("a.*", 2));
  EXPECT_FALSE(is_valid_topic_pattern("a", 0));
}

TEST(TopicPattern, RejectsEveryByteOutsideTheAlphabet) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool allowed = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || ch == '_' || ch == ':' || ch == '-';
    const std::string p = std::string("a") + ch + "b";
    const bool separator = ch == '.' || ch == '/';
    EXPECT_EQ(valid(p), allowed || separator) << c;
  }
}

TEST(TopicPattern, ExactMatchesOnlyItself) {
  EXPECT_TRUE(topic_matches("prices.btc", "prices.btc"));
  EXPECT_FALSE(topic_matches("prices.btc", "prices.eth"));
  EXPECT_FALSE(topic_matches("prices.btc", "prices.btc.usd"));
  EXPECT_FALSE(topic_matches("prices.btc", "prices"));
  EXPECT_FALSE(topic_matches("prices.btc", "prices.bt"));
  EXPECT_FALSE(topic_matches("prices.btc", "prices.btcx"));
  EXPECT_FALSE(topic_matches("prices", "Prices"));
}

TEST(TopicPattern, StarAtStartMiddleAndEnd) {
  EXPECT_TRUE(topic_matches("*.btc", "prices.btc"));
  EXPECT_FALSE(topic_matches("*.btc", "prices.eth"));
  EXPECT_FALSE(topic_matches("*.btc", "btc"));
  EXPECT_FALSE(topic_matches("*.btc", "a.b.btc"));

  EXPECT_TRUE(topic_matches("a.*.c", "a.b.c"));
  EXPECT_TRUE(topic_matches("a.*.c", "a.xyz-1.c"));
  EXPECT_FALSE(topic_matches("a.*.c", "a.c"));
  EXPECT_FALSE(topic_matches("a.*.c", "a.b.b.c"));
  EXPECT_FALSE(topic_matches("a.*.c", "a.b.d"));

  EXPECT_TRUE(topic_matches("prices.*", "prices.btc"));
  EXPECT_FALSE(topic_matches("prices.*", "prices"));
  EXPECT_FALSE(topic_matches("prices.*", "prices.btc.usd"));  // one segment, not two
  EXPECT_FALSE(topic_matches("prices.*", "other.btc"));
}

TEST(TopicPattern, StarAloneAndStarStar) {
  EXPECT_TRUE(topic_matches("*", "a"));
  EXPECT_FALSE(topic_matches("*", "a.b"));
  EXPECT_FALSE(topic_matches("*", ""));
  EXPECT_TRUE(topic_matches("*.*", "a.b"));
  EXPECT_FALSE(topic_matches("*.*", "a/b"));  // separators are matched too
  EXPECT_FALSE(topic_matches("*.*", "a"));
  EXPECT_FALSE(topic_matches("*.*", "a.b.c"));
}

TEST(TopicPattern, GreaterThanTakesOneOrMoreTrailingSegments) {
  EXPECT_TRUE(topic_matches("a.>", "a.b"));
  EXPECT_TRUE(topic_matches("a.>", "a.b.c.d"));
  EXPECT_TRUE(topic_matches("a.>", "a.b/c"));
  EXPECT_FALSE(topic_matches("a.>", "a"));  // never zero segments
  EXPECT_FALSE(topic_matches("a.>", "b.c"));
  EXPECT_FALSE(topic_matches("a.>", "ab.c"));
  EXPECT_FALSE(topic_matches("a.>", "a/b"));
  EXPECT_TRUE(topic_matches("*.>", "a.b"));
  EXPECT_FALSE(topic_matches("*.>", "a"));
  EXPECT_TRUE(topic_matches("a.*.>", "a.b.c"));
  EXPECT_FALSE(topic_matches("a.*.>", "a.b"));
}

TEST(TopicPattern, GreaterThanAloneMatchesEveryTopic) {
  EXPECT_TRUE(topic_matches(">", "a"));
  EXPECT_TRUE(topic_matches(">", "a.b/c:d-e_f"));
  EXPECT_FALSE(topic_matches(">", ""));
}

TEST(TopicPattern, SeparatorsMustBeEqual) {
  EXPECT_FALSE(topic_matches("a.*", "a/b"));
  EXPECT_FALSE(topic_matches("a/*", "a.b"));
  EXPECT_FALSE(topic_matches("a.b", "a/b"));
  EXPECT_TRUE(topic_matches("a/*", "a/b"));
  EXPECT_TRUE(topic_matches("a/b.*", "a/b.c"));
  EXPECT_FALSE(topic_matches("a/b.*", "a.b/c"));
}

TEST(TopicPattern, InvalidPatternsMatchNothingValid) {
  // Matching is defined on any input; a partial wildcard is a literal that no topic contains.
  EXPECT_FALSE(topic_matches("pri*", "prices"));
  EXPECT_FALSE(topic_matches("a.>.b", "a.x.b"));
  EXPECT_FALSE(topic_matches("", "a"));
  EXPECT_FALSE(topic_matches("", ""));
  EXPECT_FALSE(topic_matches("a..b", "a.x.b"));
}

TEST(TopicPermissions, DefaultAllowsNothing) {
  topic_permissions p;
  EXPECT_TRUE(p.empty());
  EXPECT_FALSE(p.may_subscribe("a"));
  EXPECT_FALSE(p.may_publish("a"));
}

TEST(TopicPermissions, AllowAllMatchesEverything) {
  const topic_permissions p = topic_permissions::allow_all();
  EXPECT_FALSE(p.empty());
  EXPECT_TRUE(p.allows_all());
  EXPECT_TRUE(p.subscribe_patterns().empty());
  for (std::string_view t : {"a", "a.b.c", "x/y", "prices.btc"}) {
    EXPECT_TRUE(p.may_subscribe(t));
    EXPECT_TRUE(p.may_publish(t));
  }
}

TEST(TopicPermissions, MixedExactAndPatterns) {
  topic_permissions p;
  p.add_subscribe("prices.btc");
  p.add_subscribe("news.*");
  p.add_subscribe("alerts.>");
  p.add_subscribe("chat/room1");
  p.add_publish("chat/room1");
  p.add_publish("chat/*/private");
  EXPECT_FALSE(p.empty());

  EXPECT_TRUE(p.may_subscribe("prices.btc"));
  EXPECT_FALSE(p.may_subscribe("prices.eth"));
  EXPECT_TRUE(p.may_subscribe("news.sports"));
  EXPECT_FALSE(p.may_subscribe("news.sports.football"));
  EXPECT_FALSE(p.may_subscribe("news"));
  EXPECT_TRUE(p.may_subscribe("alerts.a.b"));
  EXPECT_FALSE(p.may_subscribe("alerts"));
  EXPECT_TRUE(p.may_subscribe("chat/room1"));
  EXPECT_FALSE(p.may_subscribe("chat/room2"));

  EXPECT_TRUE(p.may_publish("chat/room1"));
  EXPECT_TRUE(p.may_publish("chat/bob/private"));
  EXPECT_FALSE(p.may_publish("chat.bob.private"));
  EXPECT_FALSE(p.may_publish("prices.btc"));  // subscribe rights are not publish rights
  EXPECT_FALSE(p.may_publish("news.sports"));
}

TEST(TopicPermissions, KeepsPatternsInOrderWithoutDuplicates) {
  topic_permissions p;
  for (std::string s : {"z", "a", "m.*", "a", "m.*", "b.>"}) p.add_subscribe(s);
  p.add_publish("only.this");
  EXPECT_EQ(p.subscribe_patterns(), (std::vector<std::string>{"z", "a", "m.*", "b.>"}));
  EXPECT_EQ(p.publish_patterns(), (std::vector<std::string>{"only.this"}));
}

TEST(TopicPermissions, ManyExactNamesAreAllFound) {
  topic_permissions p;
  for (int i = 999; i >= 0; --i) p.add_subscribe("t." + std::to_string(i));
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(p.may_subscribe("t." + std::to_string(i))) << i;
  EXPECT_FALSE(p.may_subscribe("t.1000"));
  EXPECT_FALSE(p.may_subscribe("t"));
  EXPECT_FALSE(p.may_subscribe(""));
}

TEST(TopicPermissions, OnlyPublishIsNotEmpty) {
  topic_permissions p;
  p.add_publish(">");
  EXPECT_FALSE(p.empty());
  EXPECT_TRUE(p.may_publish("anything.at.all"));
  EXPECT_FALSE(p.may_subscribe("anything"));
}

// The matcher walks bytes; this reference splits into segments (and the separators between
// them) and compares those, the way the rule is written. Random patterns and topics from a
// small alphabet, so that matches and near misses are both frequent.
struct split_text {
  std::vector<std::string> segments;
  std::string separators;
};

split_text split(const std::string& s) {
  split_text out{{""}, ""};
  for (char c : s) {
    if (c == '.' || c == '/') {
      out.separators += c;
      out.segments.emplace_back();
    } else {
      out.segments.back() += c;
    }
  }
  return out;
}

bool reference_matches(const std::string& pattern, const std::string& topic) {
  const split_text p = split(pattern), t = split(topic);
  for (std::size_t i = 0; i < p.segments.size(); ++i) {
    if (i >= t.segments.size()) return false;
    if (i > 0 && p.separators[i - 1] != t.separators[i - 1]) return false;
    if (p.segments[i] == ">" && i + 1 == p.segments.size()) return true;
    if (p.segments[i] != "*" && p.segments[i] != t.segments[i]) return false;
  }
  return t.segments.size() == p.segments.size();
}

TEST(TopicPattern, MatchesLikeTheSegmentReference) {
  std::mt19937 rng(16);
  const auto pick = [&rng](std::string_view from) { return from[rng() % from.size()]; };
  const auto make = [&](bool wildcards) {
    std::string s;
    const int segments = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < segments; ++i) {
      if (i > 0) s += pick("..../");
      if (wildcards && rng() % 3 == 0) s += (i + 1 == segments && rng() % 2) ? '>' : '*';
      else s += std::string(1 + rng() % 2, pick("ab"));
    }
    return s;
  };
  int matched = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::string pattern = make(true), topic = make(false);
    if (!is_valid_topic_pattern(pattern, 200)) continue;
    const bool expected = reference_matches(pattern, topic);
    ASSERT_EQ(topic_matches(pattern, topic), expected) << pattern << " vs " << topic;
    matched += expected;
  }
  EXPECT_GT(matched, 1000);
}

}  // namespace
}  // namespace shoal::core
