// Tests for load_config(): the command line over the TOML file over the defaults, flag errors
// naming the flag, --help / --version / --print-config as exit results, and no exceptions.
// Config files are written to a per-test temporary directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "gateway/config.hpp"

namespace shoal::gateway {
namespace {

using namespace std::chrono_literals;

config_result run(std::initializer_list<std::string> args) {
  std::vector<std::string> storage{"shoal"};
  storage.insert(storage.end(), args);
  std::vector<const char*> argv;
  for (const auto& a : storage) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return load_config(static_cast<int>(storage.size()), argv.data());
}

class Config : public testing::Test {
 protected:
  // Writes a config file and returns its path.
  std::string write_file(std::string_view text) {
    const auto* test = testing::UnitTest::GetInstance()->current_test_info();
    const auto path = std::filesystem::path(testing::TempDir()) /
                      (std::string("shoal_") + test->name() + ".toml");
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path.string();
  }
  void TearDown() override {
    for (const auto& p : paths_) std::filesystem::remove(p);
  }

 private:
  std::vector<std::filesystem::path> paths_;
};

// The message of a failed load, without its final newline.
std::string fail_message(const config_result& r) {
  EXPECT_EQ(r.action, config_action::fail) << r.output;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.output.ends_with('\n')) << r.output;
  return r.output.substr(0, r.output.size() - 1);
}

TEST_F(Config, NoArgumentsRunsWithDefaults) {
  auto r = run({});
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings, config{});
  EXPECT_EQ(r.settings.server.listen[0], (listen_address{"127.0.0.1", 8080}));
}

TEST_F(Config, FileOverridesDefaults) {
  auto r = run({"--config", write_file("[server]\nshards = 4\n[pubsub]\nring_size = 64\n")});
  ASSERT_EQ(r.action, config_action::run) << r.output;
  config expected;
  expected.server.shards = 4;
  expected.pubsub.ring_size = 64;
  EXPECT_EQ(r.settings, expected);
}

TEST_F(Config, FlagOverridesFile) {
  const auto path = write_file("[server]\nshards = 4\n[limits]\nmax_message_size = 2048\n");
  auto r = run({"--shards", "2", "--config", path});
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings.server.shards, 2u);                // flag
  EXPECT_EQ(r.settings.limits.max_message_size, 2048u);   // file
  EXPECT_EQ(r.settings.limits.max_connections, 100000u);  // default
}

TEST_F(Config, ListFlagsReplaceTheFileList) {
  const auto path = write_file(
      "[server]\nlisten = [\"0.0.0.0:9000\", \"[::]:9000\"]\n"
      "[security]\nallowed_origins = [\"https://a.example\"]\n");
  auto r = run({"--config", path, "--listen", "127.0.0.1:1", "--listen=[::1]:2", "--allowed-origin",
                "https://b.example", "--allowed-origin", "https://c.example"});
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings.server.listen, (std::vector<listen_address>{{"127.0.0.1", 1}, {"::1", 2}}));
  EXPECT_EQ(r.settings.security.allowed_origins,
            (std::vector<std::string>{"https://b.example", "https://c.example"}));
}

TEST_F(Config, EveryFlagSetsItsKey) {
  auto r = run({"--listen",
                "[::1]:9001",
                "--shards",
                "7",
                "--pin-shards",
                "false",
                "--io",
                "io_uring",
                "--handshake-timeout",
                "1s",
                "--idle-timeout",
                "0",
                "--ping-interval",
                "1500ms",
                "--pong-timeout",
                "2m",
                "--close-timeout",
                "250",
                "--drain",
                "7s",
                "--shutdown-deadline",
                "8s",
                "--max-message-size",
                "65536",
                "--max-connections",
                "20000",
                "--max-topics-per-connection",
                "3",
                "--max-header-bytes",
                "2048",
                "--max-headers",
                "32",
                "--high-watermark",
                "65536",
                "--slow-consumer-limit",
                "16777216",
                "--policy",
                "close",
                "--ring-size",
                "1024",
                "--history-bytes",
                "1048576",
                "--max-topics",
                "5000",
                "--max-topic-length",
                "64",
                "--publish-token",
                "tok",
                "--allowed-origin",
                "https://app.example.com",
                "--subprotocol",
                "shoal.bin.v1",
                "--log-level",
                "error"});
  ASSERT_EQ(r.action, config_action::run) << r.output;
  config e;
  e.server = {{{"::1", 9001}}, 7, false, io_backend::io_uring};
  e.timeouts = {1s, 0ms, 1500ms, 2min, 250ms, 7s, 8s};
  e.limits = {65536, 20000, 3, 2048, 32};
  e.backpressure = {65536, 16777216, slow_consumer_policy::close};
  e.pubsub = {1024, 1048576, 5000, 64, "tok"};
  e.security = {{"https://app.example.com"}, {"shoal.bin.v1"}};
  e.log.level = log_level::error;
  EXPECT_EQ(r.settings, e);
}

TEST_F(Config, DeflateFlagsSetTheirKeys) {
  auto r = run({"--deflate-endpoint", "/ws", "--deflate-server-context-takeover", "true",
                "--deflate-client-context-takeover", "true", "--deflate-server-window-bits", "10",
                "--deflate-client-window-bits", "12", "--deflate-mem-level", "4",
                "--deflate-level", "1", "--deflate-min-size", "0"});
  ASSERT_EQ(r.action, config_action::run) << r.output;
  EXPECT_EQ(r.settings.deflate, (deflate_config{{"/ws"}, true, true, 10, 12, 4, 1, 0}));
  // --permessage-deflate offers it on every WebSocket endpoint, whatever else said.
  auto all = run({"--deflate-endpoint", "/ws", "--permessage-deflate"});
  ASSERT_EQ(all.action, config_action::run) << all.output;
  EXPECT_EQ(all.settings.deflate.endpoints, (std::vector<std::string>{"/echo", "/ws"}));
  EXPECT_NE(fail_message(run({"--deflate-endpoint", "/healthz"})).find("deflate.endpoints"),
            std::string::npos);
}

TEST_F(Config, TlsFlagsSetTheirKeys) {
  auto r = run({"--listen", "127.0.0.1:8080", "--tls-listen", "127.0.0.1:8443", "--tls-listen",
                "[::1]:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-chain", "ch.pem",
                "--tls-sni-cert", "a.pem", "--tls-sni-cert", "b.pem", "--tls-min-version", "1.3",
                "--tls-ciphers", "ECDHE-RSA-AES128-GCM-SHA256"});
  ASSERT_EQ(r.action, config_action::run) << r.output;
  const tls_config expected{{{"127.0.0.1", 8443}, {"::1", 8443}}, "c.pem", "k.pem", "ch.pem",
                            {"a.pem", "b.pem"}, "1.3", "ECDHE-RSA-AES128-GCM-SHA256"};
  EXPECT_EQ(r.settings.tls, expected);
  EXPECT_NE(fail_message(run({"--tls-listen", "127.0.0.1:8443"})).find("tls.cert: is required"),
            std::string::npos);
}

TEST_F(Config, RejectsBadListenPortFlag) {
  EXPECT_EQ(fail_message(run({"--listen", "127.0.0.1:99999"})),
            "--listen: \"127.0.0.1:99999\": port must be 1..65535");
  EXPECT_EQ(fail_message(run({"--listen", "::1:80"})),
            "--listen: \"::1:80\": an IPv6 address goes in brackets, as in [::1]:8080");
}

TEST_F(Config, RejectsBadFlagValuesNamingTheFlag) {
  EXPECT_EQ(fail_message(run({"--idle-timeout", "5min"})),
            "--idle-timeout: \"5min\": not a duration; write 250ms, 5s, 2m or an integer of "
            "milliseconds");
  EXPECT_EQ(fail_message(run({"--shards", "-1"})),
            "--shards: \"-1\": must be a non-negative integer");
  EXPECT_EQ(fail_message(run({"--policy", "block"})),
            "--policy: \"block\": must be one of drop, close or conflate");
  EXPECT_EQ(fail_message(run({"--pin-shards", "yes"})),
            "--pin-shards: \"yes\": must be true or false");
  EXPECT_EQ(fail_message(run({"--max-connections", "99999999999"})),
            "--max-connections: \"99999999999\": must be at most 4294967295");
}

TEST_F(Config, FlagValuesGoThroughTheSameValidation) {
  EXPECT_EQ(fail_message(run({"--max-message-size", "12"})),
            "config error: limits.max_message_size: must be between 125 and 1073741824, got 12 "
            "(set by --max-message-size)");
  EXPECT_EQ(fail_message(run({"--ring-size", "1000"})),
            "config error: pubsub.ring_size: must be a power of two between 16 and 1048576, got "
            "1000 (set by --ring-size)");
  // A cross-key rule: the file's watermark against the flag's limit.
  const auto path = write_file("[backpressure]\nhigh_watermark = 1048576\n");
  EXPECT_EQ(fail_message(run({"--config", path, "--slow-consumer-limit", "65536"})),
            "config error: backpressure.slow_consumer_limit: must be at least "
            "backpressure.high_watermark (1048576), got 65536 (set by --slow-consumer-limit)");
}

TEST_F(Config, ReportsEveryBadFlag) {
  EXPECT_EQ(fail_message(run({"--io", "kqueue", "--log-level", "trace"})),
            "--io: \"kqueue\": must be one of auto, epoll or io_uring\n"
            "--log-level: \"trace\": must be one of error, warn, info or debug");
}

TEST_F(Config, RejectsUnknownAndIncompleteFlags) {
  EXPECT_NE(fail_message(run({"--bogus"})).find("--bogus"), std::string::npos);
  EXPECT_NE(fail_message(run({"--shards"})).find("--shards"), std::string::npos);
  EXPECT_NE(fail_message(run({"stray"})).find("stray"), std::string::npos);
  EXPECT_NE(fail_message(run({"--shards", "1", "--shards", "2"})).find("--shards"),
            std::string::npos);
}

TEST_F(Config, ConfigFileErrorsCarryThePath) {
  const auto path = write_file("[limits]\nmax_conections = 5\n");
  EXPECT_EQ(fail_message(run({"--config", path})),
            path +
                ":2:1: unknown key \"limits.max_conections\" (did you mean "
                "limits.max_connections?)");
  const auto bad_syntax = write_file("[limits\n");
  EXPECT_EQ(fail_message(run({"--config", bad_syntax})).rfind(bad_syntax + ":1:", 0), 0u);
}

TEST_F(Config, MissingOrUnreadableConfigFileIsAnError) {
  EXPECT_EQ(fail_message(run({"--config", "/nonexistent/shoal.toml"})),
            "/nonexistent/shoal.toml: cannot open: No such file or directory");
  const auto dir = testing::TempDir();
  EXPECT_NE(fail_message(run({"--config", dir})).find("is a directory"), std::string::npos);
}

TEST_F(Config, HelpDocumentsEveryFlagWithItsDefault) {
  auto r = run({"--help"});
  ASSERT_EQ(r.action, config_action::exit);
  EXPECT_EQ(r.exit_code, 0);
  for (std::string_view line :
       {"--config FILE", "--print-config", "--version",
        "--listen HOST:PORT ...   [server.listen; default 127.0.0.1:8080]",
        "--shards N   [server.shards; default 0]",
        "--handshake-timeout DURATION   [timeouts.handshake; default 5s]",
        "--max-message-size BYTES   [limits.max_message_size; default 1048576]",
        "--policy drop|close|conflate   [backpressure.policy; default drop]",
        "--allowed-origin ORIGIN ...   [security.allowed_origins; default none]",
        "--publish-token TOKEN   [pubsub.publish_token; default none]",
        "--log-level error|warn|info|debug   [log.level; default info]"}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
  }
  for (const auto& key : config_keys()) {
    EXPECT_NE(r.output.find("[" + key + ";"), std::string::npos) << key;
  }
  EXPECT_EQ(run({"-h"}).output, r.output);
}

TEST_F(Config, VersionExitsZero) {
  auto r = run({"--version"});
  ASSERT_EQ(r.action, config_action::exit);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output.rfind("shoal ", 0), 0u);
}

TEST_F(Config, PrintConfigShowsTheEffectiveConfig) {
  const auto path = write_file("[server]\nshards = 4\n[timeouts]\nidle = \"2m\"\n");
  auto running = run({"--config", path, "--ring-size", "64", "--listen", "[::]:443"});
  ASSERT_EQ(running.action, config_action::run) << running.output;
  auto printed =
      run({"--config", path, "--ring-size", "64", "--listen", "[::]:443", "--print-config"});
  ASSERT_EQ(printed.action, config_action::exit) << printed.output;
  EXPECT_EQ(printed.exit_code, 0);
  EXPECT_NE(printed.output.find("listen = [\"[::]:443\"]\n"), std::string::npos) << printed.output;
  auto reparsed = parse_config_text(printed.output, "printed");
  ASSERT_EQ(reparsed.action, config_action::run) << reparsed.output;
  EXPECT_EQ(reparsed.settings, running.settings);
}

TEST_F(Config, PrintConfigDoesNotPrintThePublishToken) {
  auto r = run({"--publish-token", "hunter2-very-secret", "--print-config"});
  ASSERT_EQ(r.action, config_action::exit) << r.output;
  EXPECT_EQ(r.output.find("hunter2"), std::string::npos);
  EXPECT_NE(r.output.find("# publish_token is set but not printed"), std::string::npos);
}

TEST_F(Config, PrintConfigOfAnInvalidConfigFails) {
  EXPECT_NE(fail_message(run({"--print-config", "--drain", "1m"})).find("timeouts.drain"),
            std::string::npos);
}

}  // namespace
}  // namespace shoal::gateway
