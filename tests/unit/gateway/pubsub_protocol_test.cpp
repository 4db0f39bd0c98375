// Tests for the `shoal.v1` codec: every client op with and without id/since, raw data kept byte
// for byte, every parse error with its code, the topic rule at its boundaries, encoders checked
// by parsing their output back with simdjson, the exact delivery size on random inputs, HTTP
// publish bodies, and parser reuse. Single-threaded.
#include "gateway/pubsub_protocol.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

// simdjson's CMake target defines SIMDJSON_THREADS_ENABLED, which changes the layout of its
// parser classes: every translation unit including simdjson.h must agree, or the inline
// functions of the two layouts clash (ODR). shoal_gateway must link simdjson::simdjson PUBLIC.
#ifndef SIMDJSON_THREADS_ENABLED
#error "simdjson::simdjson's compile definitions must reach this test (link it PUBLIC)"
#endif

// Counts global (non-aligned) operator new calls, to check that a warm parser does not allocate.
// ThreadSanitizer's static runtime defines operator new itself, so the count is off under TSan.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHOAL_NO_NEW_COUNTING 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SHOAL_NO_NEW_COUNTING 1
#endif
#ifndef SHOAL_NO_NEW_COUNTING
static std::atomic<std::size_t> allocations{0};
// Out of line so that GCC does not pair a replaced new with free() (-Wmismatched-new-delete).
[[gnu::noinline]] static void release(void* p) noexcept { std::free(p); }
static void* counted_malloc(std::size_t n) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
#endif

namespace shoal::gateway {
namespace {

using code = protocol_error_code;

parse_outcome parse(command_parser& p, std::string_view text, std::size_t max_len = 200) {
  return p.parse(text, max_len);
}

void expect_error(std::string_view text, code c, std::string_view message_part = {},
                  std::string_view id = {}) {
  command_parser p;
  auto r = parse(p, text);
  EXPECT_FALSE(r.ok) << text;
  EXPECT_EQ(r.error, c) << text << " -> " << r.message;
  EXPECT_FALSE(r.message.empty()) << text;
  EXPECT_NE(r.message.find(message_part), std::string_view::npos) << r.message;
  EXPECT_EQ(r.id, id) << text;
}

// Parses `json` with the DOM API (a fresh copy: padded_string) into an object.
simdjson::dom::object parse_back(simdjson::dom::parser& dom, const std::string& json) {
  simdjson::dom::object obj;
  EXPECT_EQ(dom.parse(simdjson::padded_string(json)).get(obj), simdjson::SUCCESS) << json;
  return obj;
}

std::string field_string(simdjson::dom::object obj, std::string_view key) {
  std::string_view s;
  EXPECT_EQ(obj[key].get_string().get(s), simdjson::SUCCESS) << key;
  return std::string(s);
}

std::uint64_t field_uint(simdjson::dom::object obj, std::string_view key) {
  std::uint64_t v = 0;
  EXPECT_EQ(obj[key].get_uint64().get(v), simdjson::SUCCESS) << key;
  return v;
}

TEST(PubsubProtocol, ParsesSubscribe) {
  command_parser p;
  auto r = parse(p, R"({"op":"sub","topic":"prices.btc"})");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.command.op, client_op::subscribe);
  EXPECT_EQ(r.command.topic, "prices.btc");
  EXPECT_FALSE(r.command.since.has_value());
  EXPECT_TRUE(r.command.data.empty());
  EXPECT_TRUE(r.command.id.empty());
}

TEST(PubsubProtocol, ParsesSubscribeWithSinceAndId) {
  command_parser p;
  auto r = parse(p, R"( { "id" : 7, "since" : 41, "topic" : "a/b", "op" : "sub" } )");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.command.op, client_op::subscribe);
  EXPECT_EQ(r.command.topic, "a/b");
  EXPECT_EQ(r.command.since, 41u);
  EXPECT_EQ(r.command.id, "7");
  r = parse(p, R"({"op":"sub","topic":"t","since":0})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.command.since, 0u);
  r = parse(p, R"({"op":"sub","topic":"t","since":18446744073709551615})");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.command.since, UINT64_MAX);
}

TEST(PubsubProtocol, ParsesUnsubscribeWithAndWithoutId) {
  command_parser p;
  auto r = parse(p, R"({"op":"unsub","topic":"x:y-z_1"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.command.op, client_op::unsubscribe);
  EXPECT_EQ(r.command.topic, "x:y-z_1");
  EXPECT_TRUE(r.command.id.empty());
  r = parse(p, R"({"op":"unsub","topic":"t","id":"req-1"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.command.id, R"("req-1")");
}

TEST(PubsubProtocol, ParsesPublishWithRawData) {
  const std::vector<std::string> values = {
      R"({"a":1,"b":[true,false,null],"c":{"d":"e"}})",
      R"([1, 2.5e3, -0.25, "x"])",
      R"("with \"escapes\" \\ \n \u00e9 \ud83d\ude00")",
      "12345678901234567890",
      "-1.5E-7",
      "true",
      "null",
      R"({ "nested" : [ [ [ {"deep": [ ] } ] ] ], "s" : "}]" })",
      R"("")",
      "{}",
      "[]",
      "\"h\xc3\xa9llo \xe2\x82\xac\"",
  };
  command_parser p;
  for (const auto& v : values) {
    std::string msg = R"({"op":"pub","topic":"t","data":)" + v + R"(,"id":3})";
    auto r = parse(p, msg);
    ASSERT_TRUE(r.ok) << msg << " -> " << r.message;
    EXPECT_EQ(r.command.op, client_op::publish);
    EXPECT_EQ(r.command.data, v);
    EXPECT_EQ(r.command.id, "3");
    // Data last, with surrounding whitespace: trimmed, still byte-for-byte inside.
    msg = R"({"op":"pub","topic":"t","data":  )" + v + "\n\t }";
    r = parse(p, msg);
    ASSERT_TRUE(r.ok) << msg;
    EXPECT_EQ(r.command.data, v);
  }
}

// A random JSON value without outer whitespace; strings hold escapes and brackets.
std::string random_json(std::mt19937& rng, int depth) {
  static const char* const spaces[] = {"", " ", "\n", "\t ", "\r\n  "};
  static const char* const pieces[] = {"a", "\\\"", "\\\\", "}", "]", "{", "[", ",", ":",
                                       "\\u00e9", "\xc3\xa9", "\\/", "\\n", " "};
  auto ws = [&] { return std::string(spaces[rng() % 5]); };
  std::string out;
  switch (rng() % (depth > 0 ? 6 : 4)) {
    case 0:
      return std::to_string(static_cast<int>(rng() % 2000) - 1000) + (rng() % 2 ? ".5e-3" : "");
    case 1: return rng() % 2 ? "true" : (rng() % 2 ? "false" : "null");
    case 2:
    case 3:
      out = "\"";
      for (unsigned i = rng() % 6; i > 0; --i) out += pieces[rng() % std::size(pieces)];
      return out + "\"";
    case 4:
      out = "[" + ws();
      for (unsigned i = rng() % 4; i > 0; --i) {
        out += random_json(rng, depth - 1) + ws() + (i > 1 ? "," + ws() : "");
      }
      return out + "]";
    default:
      out = "{" + ws();
      for (unsigned i = rng() % 4; i > 0; --i) {
        out += "\"k" + std::to_string(i) + "\"" + ws() + ":" + ws() + random_json(rng, depth - 1) +
               ws() + (i > 1 ? "," + ws() : "");
      }
      return out + "}";
  }
}

TEST(PubsubProtocol, KeepsRandomDataByteForByte) {
  std::mt19937 rng(99);
  command_parser p;
  for (int i = 0; i < 3000; ++i) {
    std::string data = random_json(rng, 4);
    std::vector<std::string> members = {R"("op":"pub")", R"("topic" : "t")",
                                        "\"data\"" + std::string(rng() % 2, ' ') + ":\n" + data};
    for (unsigned u = rng() % 3; u > 0; --u) {
      members.push_back("\"d\\u0061t" + std::to_string(u) + "\":" + random_json(rng, 3));
    }
    std::shuffle(members.begin(), members.end(), rng);
    std::string msg = "{";
    for (std::size_t m = 0; m < members.size(); ++m) msg += (m ? " , " : " ") + members[m];
    msg += rng() % 2 ? "}" : " }\n";
    auto r = p.parse(msg, 200);
    ASSERT_TRUE(r.ok) << msg << " -> " << r.message;
    ASSERT_EQ(r.command.data, data) << msg;
  }
}

#ifndef SHOAL_NO_NEW_COUNTING
TEST(PubsubProtocol, WarmParserDoesNotAllocate) {
  const std::string big =
      R"({"op":"pub","topic":"t","id":"x","data":[)" + std::string(4000, ' ') + "1]}";
  std::size_t cold = allocations.load();
  command_parser p;
  ASSERT_TRUE(p.parse(big, 200).ok);
  EXPECT_GT(allocations.load(), cold);  // the counter works
  const std::string_view messages[] = {
      R"({"op":"pub","topic":"a.b","data":{"x":[1,2,3]},"id":"abc"})",
      R"({"op":"sub","topic":"a.b","since":5,"id":77})", R"({"op":"unsub","topic":"a"})",
      R"({"op":"pub","topic":"a..b","data":1})", R"({"op":"zzz"})", "{oops", "[]"};
  std::size_t before = allocations.load();
  int ok = 0;
  for (int i = 0; i < 100; ++i) {
    for (auto m : messages) ok += p.parse(m, 200).ok ? 1 : 0;
  }
  EXPECT_EQ(allocations.load(), before);
  EXPECT_EQ(ok, 300);
}
#endif

TEST(PubsubProtocol, FindsDataBehindEscapedKeyAndUnknownKeys) {
  command_parser p;
  auto r = parse(p, R"({"x":{"data":1},"op":"pub","topic":"t","d\u0061ta":[2],"y":"data"})");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.command.data, "[2]");
}

TEST(PubsubProtocol, IdValues) {
  command_parser p;
  auto r = parse(p, R"({"op":"sub","topic":"t","id":9007199254740992})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.command.id, "9007199254740992");
  r = parse(p, R"({"op":"sub","topic":"t","id":0})");
  EXPECT_EQ(r.command.id, "0");
  r = parse(p, R"({"op":"sub","topic":"t","id":"a\u0062c"})");  // re-encoded canonically
  EXPECT_EQ(r.command.id, R"("abc")");
  r = parse(p, R"({"op":"sub","topic":"t","id":""})");
  EXPECT_EQ(r.command.id, R"("")");
  std::string id64(64, 'z');
  r = parse(p, R"({"op":"sub","topic":"t","id":")" + id64 + "\"}");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.command.id, "\"" + id64 + "\"");
}

TEST(PubsubProtocol, RejectsBadIds) {
  const std::vector<std::string> bads = {
      "9007199254740993", "-1", "1.0", "1e3", "null", "true", "[1]", "{}", R"("a\"b")",
      R"("a\\b")", R"("tab\there")", "\"\xc3\xa9\"", std::string("\"").append(65, 'z') + '"'};
  for (const auto& bad : bads) {
    expect_error(R"({"op":"sub","topic":"t","id":)" + bad + "}", code::bad_message, "id must");
  }
}

TEST(PubsubProtocol, RejectsInvalidJson) {
  expect_error("", code::bad_json, "empty");
  expect_error("   ", code::bad_json, "empty");
  expect_error("{", code::bad_json);
  expect_error(R"({"op":"sub","topic":"t"} x)", code::bad_json);
  expect_error(R"({"op":"sub","topic":"t"}{})", code::bad_json);
  expect_error(R"({"op":"sub","topic":"t",})", code::bad_json);
  expect_error(R"({"op":"pub","topic":"t","data":[1,,2]})", code::bad_json);
  expect_error(R"({"op":"pub","topic":"t","data":tru})", code::bad_json);
  expect_error(R"({"op":"pub","topic":"t","data":01})", code::bad_json);
  // simdjson's limit (documented): integers must fit 64 bits, other numbers a finite double.
  expect_error(R"({"op":"pub","topic":"t","data":1e999})", code::bad_json, "number");
  expect_error(R"({"op":"pub","topic":"t","data":[18446744073709551616]})", code::bad_json,
               "number");
  expect_error(R"({"op":"sub","topic":"t","since":18446744073709551616})", code::bad_json,
               "number");
  expect_error(R"({"op":"sub","topic":"t","junk":[1,}]})", code::bad_json);
  expect_error("{\"op\":\"sub\",\"topic\":\"t\",\"x\":\"\xff\"}", code::bad_json, "UTF-8");
  expect_error("{\"op\":\"sub\",\"topic\":\"t\",\"x\":\"a\nb\"}", code::bad_json);
  expect_error(R"({"op":"sub","topic":"t","x":"\q"})", code::bad_json);
  expect_error(std::string(5000, '[') + std::string(5000, ']'), code::bad_json, "deep");
}

TEST(PubsubProtocol, RejectsNonObjects) {
  for (std::string_view text : {"[]", "1", "\"sub\"", "null", "[{\"op\":\"sub\"}]"}) {
    expect_error(text, code::bad_message, "JSON object");
  }
}

TEST(PubsubProtocol, RejectsBadFields) {
  expect_error(R"({"topic":"t","id":1})", code::bad_message, "missing op", "1");
  expect_error(R"({"op":1,"topic":"t"})", code::bad_message, "op must be a string");
  expect_error(R"({"op":"SUB","topic":"t","id":"q"})", code::bad_message, "unknown op", R"("q")");
  expect_error(R"({"op":"subscribe","topic":"t"})", code::bad_message, "unknown op");
  expect_error(R"({"op":"sub"})", code::bad_message, "missing topic");
  expect_error(R"({"op":"sub","topic":["t"]})", code::bad_message, "topic must be a string");
  expect_error(R"({"op":"sub","topic":"t","since":-1,"id":2})", code::bad_message, "since must",
               "2");
  expect_error(R"({"op":"sub","topic":"t","since":1.5})", code::bad_message, "since must");
  expect_error(R"({"op":"sub","topic":"t","since":4.0})", code::bad_message, "since must");
  expect_error(R"({"op":"sub","topic":"t","since":"4"})", code::bad_message, "since must");
  expect_error(R"({"op":"unsub","topic":"t","since":4})", code::bad_message, "only allowed on sub");
  expect_error(R"({"op":"pub","topic":"t","since":4,"data":1})", code::bad_message,
               "only allowed on sub");
  expect_error(R"({"op":"pub","topic":"t","id":5})", code::bad_message, "pub needs data", "5");
  expect_error(R"({"op":"sub","topic":"t","data":1})", code::bad_message, "only allowed on pub");
  expect_error(R"({"op":"sub","topic":"t","op":"sub","id":4})", code::bad_message, "duplicate",
               "4");
  expect_error(R"({"op":"sub","topic":"t","id":4,"id":5})", code::bad_message, "duplicate");
  expect_error(R"({"op":"pub","topic":"t","data":1,"data":2})", code::bad_message, "duplicate");
}

TEST(PubsubProtocol, IgnoresUnknownAndDuplicatedUnknownKeys) {
  command_parser p;
  auto r = parse(p, R"({"op":"sub","topic":"t","v":2,"v":3,"extra":{"a":[1]}})");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(PubsubProtocol, RejectsBadTopicAndEchoesId) {
  command_parser p;
  auto r = parse(p, R"({"op":"sub","topic":"a..b","id":"x"})");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, code::bad_topic);
  EXPECT_EQ(r.id, R"("x")");
  EXPECT_TRUE(r.topic.empty());  // an invalid topic is not echoed
  r = parse(p, R"({"op":"sub","topic":"good","since":-1})");
  EXPECT_EQ(r.topic, "good");  // a valid one is
  expect_error(R"({"op":"sub","topic":""})", code::bad_topic, "invalid topic");
  expect_error(R"({"op":"sub","topic":"a b"})", code::bad_topic);
  expect_error(R"({"op":"sub","topic":"a\u0000b"})", code::bad_topic);
  EXPECT_FALSE(parse(p, R"({"op":"pub","topic":"t","data":1})", 0).ok);
  EXPECT_TRUE(parse(p, R"({"op":"pub","topic":"t","data":1})", 1).ok);
}

TEST(PubsubProtocol, AcceptsTopicAtMaxLength) {
  EXPECT_TRUE(is_valid_topic(std::string(200, 'a'), 200));
  EXPECT_FALSE(is_valid_topic(std::string(201, 'a'), 200));
  EXPECT_TRUE(is_valid_topic(std::string(201, 'a'), 201));
  EXPECT_TRUE(is_valid_topic("a", 1));
  EXPECT_FALSE(is_valid_topic("ab", 1));
  EXPECT_FALSE(is_valid_topic("", 200));
  std::string msg = R"({"op":"sub","topic":")" + std::string(200, 'q') + "\"}";
  command_parser p;
  EXPECT_TRUE(p.parse(msg, 200).ok);
  EXPECT_EQ(p.parse(msg, 199).error, code::bad_topic);
}

TEST(PubsubProtocol, AcceptsEveryAllowedCharacter) {
  EXPECT_TRUE(is_valid_topic("ABCXYZabcxyz0189_:-", 200));
  EXPECT_TRUE(is_valid_topic("a.b/c:d-e_f", 200));
  EXPECT_TRUE(is_valid_topic("-:_", 200));
  EXPECT_TRUE(is_valid_topic("a.b.c/d/e", 200));
}

TEST(PubsubProtocol, RejectsEveryOtherByte) {
  for (int c = 0; c < 256; ++c) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == ':' || c == '-' || c == '.' || c == '/';
    std::string topic = "a";
    topic += static_cast<char>(c);
    topic += "b";
    EXPECT_EQ(is_valid_topic(topic, 200), allowed) << c;
  }
}

TEST(PubsubProtocol, RejectsTopicWithEmptySegment) {
  for (std::string_view t : {"a..b", "a//b", "a./b", "a/.b", "...", "/", "."}) {
    EXPECT_FALSE(is_valid_topic(t, 200)) << t;
  }
}

TEST(PubsubProtocol, RejectsLeadingOrTrailingSeparator) {
  for (std::string_view t : {".a", "a.", "/a", "a/", "/a/", ".a.b", "a.b/"}) {
    EXPECT_FALSE(is_valid_topic(t, 200)) << t;
  }
}

TEST(PubsubProtocol, EncodesServerMessages) {
  simdjson::dom::parser dom;
  std::string out;
  encode_subscribed(out, "prices.btc", 42, "");
  EXPECT_EQ(out, R"({"op":"subscribed","topic":"prices.btc","seq":42})");
  auto o = parse_back(dom, out);
  EXPECT_EQ(field_string(o, "op"), "subscribed");
  EXPECT_EQ(field_uint(o, "seq"), 42u);

  out.clear();
  encode_subscribed(out, "t", 0, R"("r1")");
  EXPECT_EQ(out, R"({"op":"subscribed","topic":"t","seq":0,"id":"r1"})");
  out.clear();
  encode_unsubscribed(out, "a/b", "17");
  EXPECT_EQ(out, R"({"op":"unsubscribed","topic":"a/b","id":17})");
  out.clear();
  encode_unsubscribed(out, "a/b", "");
  EXPECT_EQ(out, R"({"op":"unsubscribed","topic":"a/b"})");
  out.clear();
  encode_ack(out, "t", UINT64_MAX, "9");
  o = parse_back(dom, out);
  EXPECT_EQ(field_string(o, "op"), "ack");
  EXPECT_EQ(field_string(o, "topic"), "t");
  EXPECT_EQ(field_uint(o, "seq"), UINT64_MAX);
  EXPECT_EQ(field_uint(o, "id"), 9u);
  out.clear();
  encode_gap(out, "t", 5, 9);
  EXPECT_EQ(out, R"({"op":"gap","topic":"t","from":5,"to":9})");
  out.clear();
  encode_too_old(out, "t", 3, 100);
  EXPECT_EQ(out, R"({"op":"too_old","topic":"t","since":3,"oldest":100})");

  out = "prefix|";  // encoders append
  encode_gap(out, "t", 1, 1);
  EXPECT_EQ(out, R"(prefix|{"op":"gap","topic":"t","from":1,"to":1})");
}

TEST(PubsubProtocol, EncodesErrorsWithEscapedText) {
  simdjson::dom::parser dom;
  for (int c = 0; c <= static_cast<int>(code::overloaded); ++c) {
    std::string out;
    auto ec = static_cast<code>(c);
    std::string message = "bad \"thing\" \\ here\n\x01 \xc3\xa9";
    encode_error(out, ec, message, c % 2 ? R"("q")" : "", c % 3 ? "a.b" : "");
    auto o = parse_back(dom, out);
    EXPECT_EQ(field_string(o, "op"), "error");
    EXPECT_EQ(field_string(o, "code"), std::string(error_code_name(ec)));
    EXPECT_EQ(field_string(o, "message"), message);
    EXPECT_EQ(o["id"].error() == simdjson::SUCCESS, c % 2 == 1) << out;
    EXPECT_EQ(o["topic"].error() == simdjson::SUCCESS, c % 3 != 0) << out;
  }
  EXPECT_EQ(error_code_name(code::bad_json), "bad_json");
  EXPECT_EQ(error_code_name(code::too_many_topics), "too_many_topics");
  EXPECT_EQ(error_code_name(code::message_too_big), "message_too_big");
  std::string out;
  encode_error(out, code::not_subscribed, "not subscribed", "", "t");
  EXPECT_EQ(out,
            R"({"op":"error","code":"not_subscribed","message":"not subscribed","topic":"t"})");
}

TEST(PubsubProtocol, ParseErrorsRoundTripThroughEncodeError) {
  command_parser p;
  auto r = parse(p, R"({"op":"nope","topic":"t","id":12})");
  ASSERT_FALSE(r.ok);
  std::string out;
  encode_error(out, r.error, r.message, r.id, r.topic);
  simdjson::dom::parser dom;
  auto o = parse_back(dom, out);
  EXPECT_EQ(field_string(o, "code"), "bad_message");
  EXPECT_EQ(field_uint(o, "id"), 12u);
}

TEST(PubsubProtocol, DeliverySizeMatchesBytesWritten) {
  std::mt19937_64 rng(1234);
  simdjson::dom::parser dom;
  const std::vector<std::string> datas = {"1", "{}", R"({"p":1.5,"q":[1,2,"x"]})", R"("s\"")",
                                          "null", std::string(3000, ' ') + "1"};
  for (int i = 0; i < 2000; ++i) {
    std::string topic(1 + rng() % 200, 'a');
    for (auto& ch : topic) ch = "abcXYZ019_:-"[rng() % 12];
    std::uint64_t seq = rng() >> (rng() % 64);
    if (i < 21) seq = i == 20 ? UINT64_MAX : (i == 0 ? 0 : std::uint64_t{1} << (3 * i));
    const std::string& data = datas[rng() % datas.size()];
    std::size_t size = delivery_json_size(topic, seq, data);
    std::string buf(size + 8, '#');
    ASSERT_EQ(write_delivery_json(buf.data(), topic, seq, data), size);
    EXPECT_EQ(buf.substr(size), "########");  // nothing past the computed size
    buf.resize(size);
    auto o = parse_back(dom, buf);
    EXPECT_EQ(field_string(o, "op"), "msg");
    EXPECT_EQ(field_string(o, "topic"), topic);
    EXPECT_EQ(field_uint(o, "seq"), seq);
    EXPECT_EQ(buf.substr(buf.size() - data.size() - 1), data + "}");
  }
}

TEST(PubsubProtocol, HttpJsonBodyIsValidatedAndKeptVerbatim) {
  command_parser p;
  for (std::string_view ct : {"application/json", "Application/JSON; charset=utf-8",
                              " application/json ;charset=UTF-8", "application/vnd.api+json"}) {
    auto r = p.parse_http_body(R"( {"a": [1, "b"]} )" "\n", ct);
    ASSERT_TRUE(r.ok) << ct;
    EXPECT_EQ(r.data, R"({"a": [1, "b"]})");
    r = p.parse_http_body("42", ct);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.data, "42");
    r = p.parse_http_body(R"({"a":1} {"b":2})", ct);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, code::bad_json);
    r = p.parse_http_body("", ct);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, code::bad_json);
    r = p.parse_http_body("{\"a\":\"\xff\"}", ct);
    EXPECT_FALSE(r.ok);
  }
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
  EXPECT_FALSE(is_json_content_type("application/+json"));
  EXPECT_FALSE(is_json_content_type("text/json"));
  EXPECT_FALSE(is_json_content_type(""));
}

TEST(PubsubProtocol, HttpTextBodyBecomesEscapedJsonString) {
  command_parser p;
  simdjson::dom::parser dom;
  const std::string body =
      std::string("q\"b\\s\x01\x1f\n\t\0z ", 12) + "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
  for (std::string_view ct : {"text/plain; charset=utf-8", "", "application/octet-stream"}) {
    auto r = p.parse_http_body(body, ct);
    ASSERT_TRUE(r.ok) << ct;
    EXPECT_EQ(r.data, "\"q\\\"b\\\\s\\u0001\\u001f\\u000a\\u0009\\u0000z "
                      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    std::string_view back;
    ASSERT_EQ(dom.parse(simdjson::padded_string(r.data)).get_string().get(back), simdjson::SUCCESS);
    EXPECT_EQ(back, body);
  }
  auto r = p.parse_http_body("", "text/plain");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.data, "\"\"");
  for (std::string bad : {"\xff", "a\xc3", "\xed\xa0\x80", "\xc0\xaf"}) {
    r = p.parse_http_body(bad, "text/plain");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, code::bad_message);
    EXPECT_EQ(r.message, "body is not valid UTF-8");
  }
}

TEST(PubsubProtocol, ParserReuseAcrossManyMessages) {
  command_parser p;
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string topic = "t";
    topic += std::to_string(i);
    std::string data = std::string("[").append(rng() % 5000, ' ') + std::to_string(i) + "]";
    const std::string msgs[] = {
        R"({"op":"pub","topic":")" + topic + R"(","data":)" + data + "}",
        R"({"op":"sub","topic":")" + topic + R"(","since":)" + std::to_string(i) + "}",
        R"({"op":"unsub","topic":")" + topic + R"(","id":")" + topic + "\"}", "{\"op\":"};
    std::string msg = msgs[i % 4];
    auto r = parse(p, msg);
    msg.assign(msg.size(), 'X');  // the parser holds no view into the caller's text
    if (i % 4 == 3) {
      EXPECT_EQ(r.error, code::bad_json);
      continue;
    }
    ASSERT_TRUE(r.ok) << i;
    EXPECT_EQ(r.command.topic, topic);
    if (i % 4 == 0) {
      EXPECT_EQ(r.command.data, data);
    } else if (i % 4 == 1) {
      EXPECT_EQ(r.command.since, static_cast<std::uint64_t>(i));
    } else {
      EXPECT_EQ(r.command.id, "\"" + topic + "\"");
    }
  }
}

}  // namespace
}  // namespace shoal::gateway
