// Tests for validate(): one case per rule, each changing the defaults in one way and expecting
// exactly one issue that names its key; and the boundary values every rule must accept.
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>

#include "gateway/config.hpp"

namespace shoal::gateway {
namespace {

using namespace std::chrono_literals;

// --- One case per rule of validate(): the config differs from the defaults in one way and
// must produce exactly one issue, naming its key.

struct rule_case {
  std::string name;
  std::function<void(config&)> change;
  std::string key;
  std::string problem;  // a substring of the problem
};

void PrintTo(const rule_case& c, std::ostream* os) { *os << c.name; }

class ConfigRule : public testing::TestWithParam<rule_case> {};

TEST_P(ConfigRule, ProducesOneIssueNamingItsKey) {
  config c;
  GetParam().change(c);
  const auto issues = validate(c);
  ASSERT_EQ(issues.size(), 1u) << (issues.empty() ? "no issue"
                                                  : issues[0].key + ": " + issues[0].problem);
  EXPECT_EQ(issues[0].key, GetParam().key);
  EXPECT_NE(issues[0].problem.find(GetParam().problem), std::string::npos) << issues[0].problem;
}

const rule_case rule_cases[] = {
    {"ListenEmpty", [](config& c) { c.server.listen.clear(); }, "server.listen", "at least one"},
    {"UringBuffersNotPowerOfTwo", [](config& c) { c.server.io_uring_buffers = 3; },
     "server.io_uring_buffers", "power of two"},
    {"UringBuffersZero", [](config& c) { c.server.io_uring_buffers = 0; },
     "server.io_uring_buffers", "power of two"},
    {"UringBuffersTooMany", [](config& c) { c.server.io_uring_buffers = 65536; },
     "server.io_uring_buffers", "up to 32768"},
    {"UringBufferTooSmall", [](config& c) { c.server.io_uring_buffer_size = 511; },
     "server.io_uring_buffer_size", "between 512 and 1048576"},
    {"TlsListenWithoutCert",
     [](config& c) {
       c.tls.listen = {{"127.0.0.1", 8443}};
       c.tls.key = "k.pem";
     },
     "tls.cert", "is required when tls.listen is set"},
    {"TlsListenAlsoPlain",
     [](config& c) {
       c.tls.listen = c.server.listen;
       c.tls.cert = c.tls.key = "x.pem";
     },
     "tls.listen", "is also in server.listen"},
    {"TlsMinVersion", [](config& c) { c.tls.min_version = "1.1"; }, "tls.min_version",
     "must be \"1.2\" or \"1.3\""},
    {"TlsCiphersEmpty", [](config& c) { c.tls.ciphers.clear(); }, "tls.ciphers", "must not be empty"},
    {"DeflateUnknownEndpoint", [](config& c) { c.deflate.endpoints = {"/metrics"}; },
     "deflate.endpoints", "\"/metrics\": must be a WebSocket endpoint"},
    {"DeflateEndpointTwice", [](config& c) { c.deflate.endpoints = {"/ws", "/ws"}; },
     "deflate.endpoints", "listed twice"},
    {"DeflateServerWindow7", [](config& c) { c.deflate.server_max_window_bits = 7; },
     "deflate.server_max_window_bits", "between 8 and 15, got 7"},
    {"DeflateClientWindow16", [](config& c) { c.deflate.client_max_window_bits = 16; },
     "deflate.client_max_window_bits", "between 8 and 15, got 16"},
    {"DeflateMemLevel0", [](config& c) { c.deflate.mem_level = 0; }, "deflate.mem_level",
     "between 1 and 9, got 0"},
    {"DeflateLevel10", [](config& c) { c.deflate.level = 10; }, "deflate.level",
     "between 1 and 9, got 10"},
    {"ListenHostName",
     [](config& c) {
       c.server.listen = {{"example.com", 80}};
     },
     "server.listen", "\"example.com:80\": host must be"},
    {"ListenPortZero",
     [](config& c) {
       c.server.listen = {{"::1", 0}};
     },
     "server.listen", "\"[::1]:0\": port must be 1..65535"},
    {"ListenDuplicate", [](config& c) { c.server.listen.push_back(c.server.listen[0]); },
     "server.listen", "listed twice"},
    {"AdminListenAlsoPublic", [](config& c) { c.server.admin_listen = c.server.listen; },
     "server.admin_listen", "is also a public listener"},
    {"AdminListenDuplicate",
     [](config& c) { c.server.admin_listen = {{"127.0.0.1", 9090}, {"127.0.0.1", 9090}}; },
     "server.admin_listen", "listed twice"},
    {"AdminListenPortZero", [](config& c) { c.server.admin_listen = {{"127.0.0.1", 0}}; },
     "server.admin_listen", "port must be 1..65535"},
    {"ShardsOver256", [](config& c) { c.server.shards = 257; }, "server.shards",
     "and 256, got 257"},
    {"IdleOver24h", [](config& c) { c.timeouts.idle = 25h; }, "timeouts.idle",
     "must be at most 24 hours (86400s), got 90000s"},
    {"HandshakeZero", [](config& c) { c.timeouts.handshake = 0ms; }, "timeouts.handshake",
     "greater than 0"},
    {"PongTimeoutZero", [](config& c) { c.timeouts.pong_timeout = 0ms; }, "timeouts.pong_timeout",
     "greater than 0"},
    {"CloseZero", [](config& c) { c.timeouts.close = 0ms; }, "timeouts.close", "greater than 0"},
    {"ShutdownDeadlineZero",
     [](config& c) { c.timeouts.shutdown_deadline = 0ms, c.timeouts.drain = 0ms; },
     "timeouts.shutdown_deadline", "greater than 0"},
    {"DrainOverDeadline", [](config& c) { c.timeouts.drain = 11s; }, "timeouts.drain",
     "at most timeouts.shutdown_deadline (10s), got 11s"},
    {"MessageSizeUnder125", [](config& c) { c.limits.max_message_size = 12; },
     "limits.max_message_size", "must be between 125 and 1073741824, got 12"},
    {"MessageSizeOver1GiB", [](config& c) { c.limits.max_message_size = (1u << 30) + 1; },
     "limits.max_message_size", "between 125 and 1073741824"},
    {"MaxConnectionsZero", [](config& c) { c.limits.max_connections = 0; },
     "limits.max_connections", "at least 1"},
    {"MaxTopicsZero", [](config& c) { c.limits.max_topics_per_connection = 0; },
     "limits.max_topics_per_connection", "at least 1"},
    {"HeaderBytesUnder1KiB", [](config& c) { c.limits.max_header_bytes = 1023; },
     "limits.max_header_bytes", "between 1024 and 1048576"},
    {"HeaderBytesOver1MiB", [](config& c) { c.limits.max_header_bytes = (1u << 20) + 1; },
     "limits.max_header_bytes", "between 1024 and 1048576"},
    {"MaxHeadersUnder5", [](config& c) { c.limits.max_headers = 4; }, "limits.max_headers",
     "between 5 and 1024"},
    {"HighWatermarkZero", [](config& c) { c.backpressure.high_watermark = 0; },
     "backpressure.high_watermark", "between 1 and"},
    {"SlowConsumerUnderWatermark", [](config& c) { c.backpressure.slow_consumer_limit = 1000; },
     "backpressure.slow_consumer_limit", "at least backpressure.high_watermark (262144), got 1000"},
    {"SlowConsumerOver1TiB", [](config& c) { c.backpressure.slow_consumer_limit = 1ull << 41; },
     "backpressure.slow_consumer_limit", "between 1 and"},
    {"RingNotPowerOfTwo", [](config& c) { c.pubsub.ring_size = 1000; }, "pubsub.ring_size",
     "power of two between 16 and 1048576, got 1000"},
    {"RingUnder16", [](config& c) { c.pubsub.ring_size = 8; }, "pubsub.ring_size", "power of two"},
    {"NoTopics", [](config& c) { c.pubsub.max_topics = 0; }, "pubsub.max_topics", "between 1 and"},
    {"RingOver1Mi", [](config& c) { c.pubsub.ring_size = 1u << 21; }, "pubsub.ring_size",
     "power of two"},
    {"TopicLengthZero", [](config& c) { c.pubsub.max_topic_length = 0; }, "pubsub.max_topic_length",
     "between 1 and 65535"},
    {"TokenWithSpace", [](config& c) { c.pubsub.publish_token = "a b"; }, "pubsub.publish_token",
     "visible ASCII"},
    {"OriginStar", [](config& c) { c.security.allowed_origins = {"*"}; },
     "security.allowed_origins", "leave allowed_origins empty"},
    {"OriginWithoutScheme", [](config& c) { c.security.allowed_origins = {"app.example.com"}; },
     "security.allowed_origins", "scheme://host[:port]"},
    {"OriginUppercase", [](config& c) { c.security.allowed_origins = {"https://App.example.com"}; },
     "security.allowed_origins", "lowercase"},
    {"OriginTrailingSlash", [](config& c) { c.security.allowed_origins = {"https://a.example/"}; },
     "security.allowed_origins", "must not have a path"},
    {"OriginBadPort", [](config& c) { c.security.allowed_origins = {"https://a.example:0"}; },
     "security.allowed_origins", "port must be 1..65535"},
    {"OriginDuplicate",
     [](config& c) {
       c.security.allowed_origins = {"https://a.example", "https://a.example"};
     },
     "security.allowed_origins", "listed twice"},
    {"SubprotocolNotToken", [](config& c) { c.security.subprotocols = {"shoal v1"}; },
     "security.subprotocols", "HTTP token"},
    {"SubprotocolEmpty", [](config& c) { c.security.subprotocols = {""}; }, "security.subprotocols",
     "HTTP token"},
    {"SubprotocolDuplicate",
     [](config& c) {
       c.security.subprotocols = {"a", "a"};
     },
     "security.subprotocols", "listed twice"},
    {"NatsUrlNoScheme", [](config& c) { c.cluster.nats = {"127.0.0.1:4222"}; }, "cluster.nats",
     "nats://HOST:PORT"},
    {"NatsUrlWrongScheme", [](config& c) { c.cluster.nats = {"http://127.0.0.1:4222"}; }, "cluster.nats",
     "scheme"},
    {"NatsUrlBadPort", [](config& c) { c.cluster.nats = {"nats://127.0.0.1:99999"}; }, "cluster.nats",
     "port"},
    {"NatsUrlPath", [](config& c) { c.cluster.nats = {"nats://host:4222/x"}; }, "cluster.nats", "path"},
    {"NatsUrlDuplicate", [](config& c) { c.cluster.nats = {"nats://a:1", "nats://a:1"}; }, "cluster.nats",
     "listed twice"},
    {"StreamName", [](config& c) { c.cluster.stream = "a.b"; }, "cluster.stream", "A-Z"},
    {"StreamEmpty", [](config& c) { c.cluster.stream = ""; }, "cluster.stream", "A-Z"},
    {"SubjectPrefixWildcard", [](config& c) { c.cluster.subject_prefix = "a.>"; }, "cluster.subject_prefix",
     "subject tokens"},
    {"SubjectPrefixEmptyToken", [](config& c) { c.cluster.subject_prefix = "a..b"; },
     "cluster.subject_prefix", "subject tokens"},
    {"NodeNameSpace", [](config& c) { c.cluster.node_name = "node 1"; }, "cluster.node_name", "visible ASCII"},
    {"ReplicasZero", [](config& c) { c.cluster.replicas = 0; }, "cluster.replicas", "between 1 and 5"},
    {"ReplicasSix", [](config& c) { c.cluster.replicas = 6; }, "cluster.replicas", "between 1 and 5"},
    {"MaxAgeBelowSecond", [](config& c) { c.cluster.max_age = 500ms; }, "cluster.max_age", "at least 1s"},
    {"ClusterTopicTooLong",
     [](config& c) {
       c.cluster.nats = {"nats://127.0.0.1:4222"};
       c.pubsub.max_topic_length = 2049;
     },
     "pubsub.max_topic_length", "max_control_line"},
    {"NatsCertWithoutKey", [](config& c) { c.cluster.tls_cert = "client.pem"; }, "cluster.tls_key",
     "go together"},
    {"RequestTimeoutTiny", [](config& c) { c.cluster.request_timeout = 10ms; }, "cluster.request_timeout",
     "between 100ms"},
    {"BurstWithoutRate", [](config& c) { c.limits.message_burst = 10; }, "limits.message_burst",
     "messages_per_second"},
    {"ConnectBurstWithoutRate", [](config& c) { c.limits.connect_burst_per_address = 10; },
     "limits.connect_burst_per_address", "connects_per_address_per_second"},
    {"StrikesZero", [](config& c) { c.limits.rate_limit_strikes = 0; }, "limits.rate_limit_strikes",
     "between 1"},
    {"SecretFileTwice", [](config& c) { c.auth.jwt_secret_files = {"a.key", "a.key"}; },
     "auth.jwt_secret_file", "listed twice"},
    {"AnonymousWithoutKeys",
     [](config& c) {
       c.auth.required = false;
       c.auth.anonymous_subscribe = {"public.>"};
     },
     "auth.anonymous_subscribe", "without auth.jwt_secret_file"},
    {"AnonymousWhileRequired",
     [](config& c) {
       c.auth.jwt_secret_files = {"a.key"};
       c.auth.anonymous_publish = {"chat.*"};
     },
     "auth.anonymous_publish", "auth.required"},
    {"AnonymousBadPattern",
     [](config& c) {
       c.auth.jwt_secret_files = {"a.key"};
       c.auth.required = false;
       c.auth.anonymous_subscribe = {"a.>.b"};
     },
     "auth.anonymous_subscribe", "not a topic pattern"},
    {"ClockSkewTooLarge", [](config& c) { c.auth.clock_skew = 11min; }, "auth.clock_skew", "10m"},
    {"ProxyTrustedNotCidr",
     [](config& c) {
       c.server.proxy_protocol = true;
       c.server.proxy_trusted = {"10.0.0.0/33"};
     },
     "server.proxy_trusted", "prefix length"},
    {"ProxyTrustedNotAddress",
     [](config& c) {
       c.server.proxy_protocol = true;
       c.server.proxy_trusted = {"balancer.local"};
     },
     "server.proxy_trusted", "not an IPv4 or IPv6"},
    {"ProxyTrustedWithoutProxy", [](config& c) { c.server.proxy_trusted = {"10.0.0.0/8"}; },
     "server.proxy_trusted", "without server.proxy_protocol"},
    {"ProxyListenNotAListener", [](config& c) { c.server.proxy_listen = {{"127.0.0.1", 9999}}; },
     "server.proxy_listen", "not one of server.listen"},
    {"TokenBytesTiny", [](config& c) { c.auth.max_token_bytes = 100; }, "auth.max_token_bytes",
     "between 256"},
};

INSTANTIATE_TEST_SUITE_P(Config, ConfigRule, testing::ValuesIn(rule_cases),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(Config, AcceptsBoundaryValues) {
  config c;
  c.server.shards = 256;
  c.server.io_uring_buffers = 32768;
  c.server.io_uring_buffer_size = 512;
  c.server.listen = {{"::", 1}, {"0.0.0.0", 65535}, {"localhost", 8080}};
  c.timeouts.idle = 0ms;
  c.timeouts.ping_interval = 0ms;
  c.timeouts.drain = c.timeouts.shutdown_deadline;
  c.limits.max_message_size = 125;
  c.limits.max_header_bytes = 1024;
  c.backpressure.slow_consumer_limit = c.backpressure.high_watermark;
  c.pubsub.ring_size = 16;
  c.security.allowed_origins = {"http://localhost:3000", "https://[::1]:8443",
                                "https://app.example.com"};
  c.security.subprotocols = {};
  c.tls.listen = {{"::1", 8443}};
  c.tls.cert = c.tls.key = "combined.pem";
  c.tls.min_version = "1.3";
  c.deflate.endpoints = {"/echo", "/ws"};
  c.deflate.server_max_window_bits = 8;
  c.deflate.client_max_window_bits = 8;
  c.deflate.mem_level = 1;
  c.deflate.level = 1;
  c.deflate.min_size = 0;
  c.cluster.nats = {"nats://127.0.0.1:4222", "tls://user:secret@nats.example.com:4443", "nats://[::1]:4222"};
  c.cluster.stream = "S";
  c.cluster.subject_prefix = "a.b-c.d_e";
  c.cluster.replicas = 5;
  c.cluster.max_records_per_topic = 0;
  c.cluster.max_bytes = 0;
  c.cluster.max_age = 1s;
  c.cluster.request_timeout = 100ms;
  c.limits.messages_per_second = 1;
  c.limits.message_burst = 1;
  c.limits.bytes_per_second = UINT32_MAX;
  c.limits.rate_limit_strikes = 1;
  c.limits.max_connections_per_address = 1;
  c.limits.connects_per_address_per_second = 1;
  c.auth.jwt_secret_files = {"a.key", "b.key"};
  c.auth.jwt_public_key_files = {"c.pem"};
  c.auth.required = false;
  c.auth.anonymous_subscribe = {">", "*", "a.*.b", "x/y/>"};
  c.auth.clock_skew = 0ms;
  c.auth.max_token_bytes = 256;
  EXPECT_TRUE(validate(c).empty());
  c.tls.listen.clear();
  c.server.proxy_protocol = true;
  c.server.proxy_trusted = {"10.0.0.0/8", "192.0.2.7", "::1/128", "2001:db8::/32", "0.0.0.0/0"};
  EXPECT_TRUE(validate(c).empty());
  c.server.proxy_protocol = false;
  c.server.proxy_listen = {c.server.listen[1]};
  EXPECT_TRUE(validate(c).empty());
  c.deflate.server_max_window_bits = c.deflate.client_max_window_bits = 15;
  c.deflate.mem_level = c.deflate.level = 9;
  c.limits.max_message_size = 1u << 30;
  c.pubsub.ring_size = 1u << 20;
  EXPECT_TRUE(validate(c).empty());
}

}  // namespace
}  // namespace shoal::gateway
