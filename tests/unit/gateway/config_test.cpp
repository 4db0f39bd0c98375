// Tests for the configuration values and the TOML file: defaults, value parsers, unknown keys,
// source positions, print_config() round trips and deploy/shoal.example.toml. The rules of
// validate() are in config_validate_test.cpp, the command line in config_cli_test.cpp.
#include "gateway/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace shoal::gateway {
namespace {

using namespace std::chrono_literals;

config_result parse(std::string_view toml) { return parse_config_text(toml, "cfg.toml"); }

// The message of a failed parse, without its final newline.
std::string error_of(std::string_view toml) {
  auto r = parse(toml);
  EXPECT_EQ(r.action, config_action::fail) << toml;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.output.ends_with('\n')) << r.output;
  return r.output.substr(0, r.output.size() - 1);
}

TEST(Config, DefaultsListenOnLoopback8080) {
  const config c;
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0], (listen_address{"127.0.0.1", 8080}));
  EXPECT_TRUE(validate(c).empty());
}

TEST(Config, DefaultsAreTheDocumentedOnes) {
  const config c;
  EXPECT_EQ(c.server.shards, 0u);
  EXPECT_TRUE(c.server.pin_shards);
  EXPECT_EQ(c.server.io, io_backend::automatic);
  EXPECT_EQ(c.timeouts.handshake, 5s);
  EXPECT_EQ(c.timeouts.idle, 120s);
  EXPECT_EQ(c.timeouts.ping_interval, 20s);
  EXPECT_EQ(c.timeouts.pong_timeout, 10s);
  EXPECT_EQ(c.timeouts.close, 3s);
  EXPECT_EQ(c.timeouts.drain, 5s);
  EXPECT_EQ(c.timeouts.shutdown_deadline, 10s);
  EXPECT_EQ(c.limits.max_message_size, 1048576u);
  EXPECT_EQ(c.limits.max_connections, 100000u);
  EXPECT_EQ(c.limits.max_topics_per_connection, 256u);
  EXPECT_EQ(c.limits.max_header_bytes, 8192u);
  EXPECT_EQ(c.limits.max_headers, 64u);
  EXPECT_EQ(c.backpressure.high_watermark, 262144u);
  EXPECT_EQ(c.backpressure.slow_consumer_limit, 4194304u);
  EXPECT_EQ(c.backpressure.policy, slow_consumer_policy::drop);
  EXPECT_EQ(c.pubsub.ring_size, 4096u);
  EXPECT_EQ(c.pubsub.max_topic_length, 200u);
  EXPECT_EQ(c.pubsub.publish_token, "");
  EXPECT_TRUE(c.security.allowed_origins.empty());
  EXPECT_EQ(c.security.subprotocols, std::vector<std::string>{"shoal.v1"});
  EXPECT_EQ(c.log.level, log_level::info);
}

TEST(Config, EmptyFileGivesDefaults) {
  auto r = parse("");
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings, config{});
}

TEST(Config, ParsesDurations) {
  const std::pair<std::string_view, std::chrono::milliseconds> cases[] = {
      {"250ms", 250ms}, {"5s", 5s},       {"2m", 2min}, {"0", 0ms},
      {"0s", 0ms},      {"1500", 1500ms}, {"007s", 7s}};
  for (const auto& [text, expected] : cases) {
    auto r = parse_duration(text);
    ASSERT_TRUE(r.value) << text << ": " << r.error;
    EXPECT_EQ(*r.value, expected) << text;
  }
}

TEST(Config, RejectsBadDurations) {
  for (std::string_view text : {"", "s", "ms", "5 s", " 5s", "5s ", "-5s", "+5s", "1.5s", "5h",
                                "5sec", "5S", "5ms5", "0x10"}) {
    auto r = parse_duration(text);
    EXPECT_FALSE(r.value) << '"' << text << '"';
    EXPECT_NE(r.error.find("not a duration"), std::string::npos) << r.error;
  }
  EXPECT_EQ(parse_duration("99999999999999999999ms").error, "too long");
  EXPECT_EQ(parse_duration("999999999999999999m").error, "too long");
}

TEST(Config, FormattedDurationsParseBack) {
  for (auto d : {0ms, 1ms, 250ms, 1000ms, 1500ms, 120000ms, 86400000ms}) {
    auto r = parse_duration(format_duration(d));
    ASSERT_TRUE(r.value) << format_duration(d);
    EXPECT_EQ(*r.value, d);
  }
  EXPECT_EQ(format_duration(120s), "120s");
  EXPECT_EQ(format_duration(250ms), "250ms");
}

TEST(Config, TomlDurationsAreStringsOrMilliseconds) {
  auto r = parse("[timeouts]\nidle = 250\nping_interval = \"2m\"\nhandshake = \"750ms\"\n");
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings.timeouts.idle, 250ms);
  EXPECT_EQ(r.settings.timeouts.ping_interval, 2min);
  EXPECT_EQ(r.settings.timeouts.handshake, 750ms);
  EXPECT_NE(
      error_of("[timeouts]\nidle = -1\n").find("cfg.toml:2:8: timeouts.idle: must not be negative"),
      std::string::npos);
  EXPECT_NE(error_of("[timeouts]\nidle = 1.5\n").find("timeouts.idle: expected a duration"),
            std::string::npos);
}

TEST(Config, ParsesIpv4AndLocalhostListenAddresses) {
  EXPECT_EQ(parse_listen_address("0.0.0.0:80").value, (listen_address{"0.0.0.0", 80}));
  EXPECT_EQ(parse_listen_address("127.0.0.1:65535").value, (listen_address{"127.0.0.1", 65535}));
  EXPECT_EQ(parse_listen_address("localhost:1").value, (listen_address{"localhost", 1}));
}

TEST(Config, ParsesIpv6ListenAddresses) {
  EXPECT_EQ(parse_listen_address("[::1]:8080").value, (listen_address{"::1", 8080}));
  EXPECT_EQ(parse_listen_address("[::]:443").value, (listen_address{"::", 443}));
  EXPECT_EQ(parse_listen_address("[2001:db8::17]:9000").value,
            (listen_address{"2001:db8::17", 9000}));
  EXPECT_EQ(parse_listen_address("[::ffff:127.0.0.1]:80").value,
            (listen_address{"::ffff:127.0.0.1", 80}));
  for (std::string_view text : {"[::1]:8080", "[2001:db8::17]:9000", "0.0.0.0:80", "localhost:1"}) {
    EXPECT_EQ(format_listen_address(*parse_listen_address(text).value), text);
  }
}

TEST(Config, RejectsBadListenPort) {
  for (std::string_view text : {"127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:", "127.0.0.1:http",
                                "127.0.0.1:-1", "127.0.0.1:+80", "[::1]:70000", "[::1]:"}) {
    EXPECT_EQ(parse_listen_address(text).error, "port must be 1..65535") << text;
  }
  EXPECT_EQ(error_of("[server]\nlisten = [\"127.0.0.1:8080\", \"127.0.0.1:99999\"]\n"),
            "cfg.toml:2:29: server.listen[1]: \"127.0.0.1:99999\": port must be 1..65535");
}

TEST(Config, RejectsBadListenHost) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"example.com:80", "host must be an IPv4 or IPv6 address or localhost"},
      {"256.0.0.1:80", "host must be an IPv4 or IPv6 address or localhost"},
      {"::1:8080", "an IPv6 address goes in brackets"},
      {"[127.0.0.1]:80", "brackets must hold an IPv6 address"},
      {"[::1]8080", "expected HOST:PORT"},
      {"[::1", "missing ]"},
      {"127.0.0.1", "expected HOST:PORT"},
      {":8080", "host is missing"},
      {"", "expected HOST:PORT"}};
  for (const auto& [text, problem] : cases) {
    auto r = parse_listen_address(text);
    EXPECT_FALSE(r.value) << text;
    EXPECT_NE(r.error.find(problem), std::string::npos) << text << ": " << r.error;
  }
}

TEST(Config, ParsesEnumsExactly) {
  EXPECT_EQ(parse_io_backend("io_uring").value, io_backend::io_uring);
  EXPECT_EQ(parse_io_backend("auto").value, io_backend::automatic);
  EXPECT_EQ(to_string(io_backend::automatic), "auto");
  EXPECT_EQ(parse_slow_consumer_policy("conflate").value, slow_consumer_policy::conflate);
  EXPECT_EQ(parse_log_level("debug").value, log_level::debug);
  EXPECT_EQ(parse_io_backend("EPOLL").error, "must be one of auto, epoll or io_uring");
  EXPECT_EQ(parse_slow_consumer_policy("block").error, "must be one of drop, close or conflate");
  EXPECT_EQ(parse_log_level("trace").error, "must be one of error, warn, info or debug");
  EXPECT_EQ(to_string(slow_consumer_policy::close), "close");
}

TEST(Config, ValidationErrorNamesKeyAndWhereItWasSet) {
  EXPECT_EQ(error_of("[limits]\nmax_message_size = 12\n"),
            "config error: limits.max_message_size: must be between 125 and 1073741824, got 12 "
            "(set at cfg.toml:2:20)");
}

TEST(Config, RejectsUnknownKey) {
  EXPECT_EQ(error_of("[limits]\nmax_mesage_size = 2048\n"),
            "cfg.toml:2:1: unknown key \"limits.max_mesage_size\" (did you mean "
            "limits.max_message_size?)");
  EXPECT_EQ(error_of("[limits]\nshards = 2\n"),
            "cfg.toml:2:1: unknown key \"limits.shards\" (did you mean server.shards?)");
  EXPECT_EQ(error_of("[log]\ncolour = true\n"), "cfg.toml:2:1: unknown key \"log.colour\"");
  EXPECT_EQ(error_of("verbose = true\n"), "cfg.toml:1:1: unknown key \"verbose\"");
}

TEST(Config, RejectsUnknownTable) {
  EXPECT_EQ(error_of("[limit]\nmax_connections = 5\n"),
            "cfg.toml:1:2: unknown table [limit] (did you mean [limits]?)");
  EXPECT_EQ(error_of("[server.tls]\ncert = \"x\"\n"), "cfg.toml:1:9: unknown key \"server.tls\"");
  EXPECT_EQ(error_of("server = 1\n"), "cfg.toml:1:10: server: expected a table [server]");
}

TEST(Config, RejectsWrongTomlTypes) {
  EXPECT_EQ(error_of("[server]\nshards = \"4\"\n"),
            "cfg.toml:2:10: server.shards: expected an integer, got string");
  EXPECT_EQ(error_of("[server]\npin_shards = 1\n"),
            "cfg.toml:2:14: server.pin_shards: expected true or false, got integer");
  EXPECT_EQ(error_of("[server]\nlisten = \"127.0.0.1:80\"\n"),
            "cfg.toml:2:10: server.listen: expected an array of strings, got string");
  EXPECT_EQ(error_of("[security]\nsubprotocols = [1]\n"),
            "cfg.toml:2:17: security.subprotocols[0]: expected a string, got integer");
  EXPECT_EQ(error_of("[backpressure]\npolicy = 2\n"),
            "cfg.toml:2:10: backpressure.policy: expected a string, got integer");
}

TEST(Config, RejectsIntegersOutsideTheFieldType) {
  EXPECT_EQ(error_of("[limits]\nmax_connections = -1\n"),
            "cfg.toml:2:19: limits.max_connections: must not be negative, got -1");
  EXPECT_EQ(error_of("[server]\nshards = 5000000000\n"),
            "cfg.toml:2:10: server.shards: must be at most 4294967295, got 5000000000");
}

TEST(Config, ReportsParseErrorWithPosition) {
  const auto message = error_of("[server]\nshards = \n");
  EXPECT_EQ(message.rfind("cfg.toml:2:", 0), 0u) << message;
  EXPECT_NE(message.find(": parse error: "), std::string::npos) << message;
}

TEST(Config, ReportsEveryFileErrorInLineOrder) {
  EXPECT_EQ(error_of("[server]\nshardz = 1\nio = \"kqueue\"\n[log]\nlevel = \"trace\"\n"),
            "cfg.toml:2:1: unknown key \"server.shardz\" (did you mean server.shards?)\n"
            "cfg.toml:3:6: server.io: \"kqueue\": must be one of auto, epoll or io_uring\n"
            "cfg.toml:5:9: log.level: \"trace\": must be one of error, warn, info or debug");
}

TEST(Config, FileListReplacesDefaultAndOtherKeysKeepDefaults) {
  auto r = parse(
      "[server]\nlisten = [\"[::1]:9000\", \"0.0.0.0:9000\"]\n[security]\nsubprotocols = []\n");
  ASSERT_EQ(r.action, config_action::run) << r.output;
  config expected;
  expected.server.listen = {{"::1", 9000}, {"0.0.0.0", 9000}};
  expected.security.subprotocols.clear();
  EXPECT_EQ(r.settings, expected);
}

TEST(Config, ParseConfigTextOverlaysBase) {
  config base;
  base.server.shards = 3;
  base.log.level = log_level::debug;
  auto r = parse_config_text("[log]\nlevel = \"warn\"\n", "x", base);
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings.server.shards, 3u);
  EXPECT_EQ(r.settings.log.level, log_level::warn);
}

config every_value_changed() {
  config c;
  c.server = {
      {{"::1", 9001}, {"0.0.0.0", 9002}, {"localhost", 9003}}, 7, false, io_backend::io_uring};
  c.timeouts = {1ms, 0ms, 1500ms, 2min, 250ms, 7s, 8s};
  c.limits = {65536, 20000, 3, 2048, 32};
  c.backpressure = {1 << 16, 1 << 24, slow_consumer_policy::conflate};
  c.pubsub = {1 << 10, 1 << 20, 777, 64, "s3cr\"t\\token"};
  c.security = {{"https://app.example.com", "http://localhost:3000"}, {"shoal.v1", "shoal.bin.v1"}};
  c.log.level = log_level::debug;
  return c;
}

TEST(Config, PrintConfigRoundTrips) {
  for (const config& c : {config{}, every_value_changed()}) {
    ASSERT_TRUE(validate(c).empty());
    const std::string text = print_config(c);
    auto r = parse(text);
    ASSERT_EQ(r.action, config_action::run) << r.output << "\n" << text;
    EXPECT_EQ(r.settings, c) << text;
  }
}

TEST(Config, PrintConfigWritesEveryKeyOnce) {
  const std::string text = print_config(config{});
  const auto keys = config_keys();
  EXPECT_EQ(keys.size(), 81u);
  for (const auto& key : keys) {
    const auto name = key.substr(key.find('.') + 1);
    const auto table = std::string("[").append(key, 0, key.find('.')).append("]\n");
    const auto table_at = text.find(table);
    ASSERT_NE(table_at, std::string::npos) << table;
    EXPECT_NE(text.find("\n" + name + " = ", table_at), std::string::npos) << key;
  }
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size());
}

// deploy/shoal.example.toml sets every key, each to its default.
TEST(Config, ExampleFileSetsEveryKeyToItsDefault) {
  const auto path =
      std::filesystem::path(__FILE__).parent_path() / "../../../deploy/shoal.example.toml";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  auto r = parse_config_text(text.str(), "shoal.example.toml");
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings, config{});

  std::set<std::string> set_keys;
  std::string table;
  for (std::string line; std::getline(text, line);) {
    if (line.starts_with("[")) table = line.substr(1, line.find(']') - 1);
    if (const auto eq = line.find(" = "); !line.starts_with("#") && eq != std::string::npos) {
      set_keys.insert(table + "." + line.substr(0, eq));
    }
  }
  const auto keys = config_keys();
  EXPECT_EQ(set_keys, std::set<std::string>(keys.begin(), keys.end()));
}

TEST(Config, ResolvesShardCount) {
  server_config s;
  s.shards = 3;
  EXPECT_EQ(resolved_shard_count(s), 3u);
  s.shards = 0;
  const unsigned n = resolved_shard_count(s);
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, 256u);
}

TEST(Config, WithReloadedTakesOnlyWhatMayChange) {
  config running, next;
  std::vector<std::string> applied, kept;
  EXPECT_EQ(with_reloaded(running, next, [](std::string_view) { return true; }, applied, kept), running);
  EXPECT_TRUE(applied.empty() && kept.empty());

  next.log.level = log_level::debug;
  next.limits.messages_per_second = 5;
  next.security.allowed_origins = {"https://app.example"};
  next.server.shards = 3;
  const config merged = with_reloaded(
      running, next, [](std::string_view key) { return key != "server.shards"; }, applied, kept);
  EXPECT_EQ(applied, (std::vector<std::string>{"limits.messages_per_second",
                                               "security.allowed_origins", "log.level"}));
  EXPECT_EQ(kept, std::vector<std::string>{"server.shards"});
  EXPECT_EQ(merged.log.level, log_level::debug);
  EXPECT_EQ(merged.limits.messages_per_second, 5u);
  EXPECT_EQ(merged.security.allowed_origins, next.security.allowed_origins);
  EXPECT_EQ(merged.server.shards, running.server.shards);
}

}  // namespace
}  // namespace shoal::gateway
