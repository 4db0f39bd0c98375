// The gateway's configuration: every setting with its embedded default, the parsers for single
// values, one validation pass over the whole struct, and the loader (defaults < TOML file < CLI).
// Loaded once on the main thread before any shard starts; afterwards read-only, so shards may
// read a shared const config without synchronisation. Nothing here throws to the caller.
// A config returned by load_config() or parse_config_text() has passed validate().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::gateway {

// automatic: io_uring where the kernel has what made it measure faster (see server.cpp), else epoll.
enum class io_backend : std::uint8_t { automatic, epoll, io_uring };

// What happens to a connection whose buffered bytes exceed backpressure.slow_consumer_limit.
enum class slow_consumer_policy : std::uint8_t {
  drop,      // drop further messages for it and send a gap notice once it drains
  close,     // close it (1008 policy violation / 1013 try again later)
  conflate,  // keep only the latest message per topic (tickers)
};

enum class log_level : std::uint8_t { error, warn, info, debug };

// One listening address. host is an IPv4 or IPv6 literal (IPv6 without brackets) or "localhost".
struct listen_address {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const listen_address&) const = default;
};

struct server_config {
  std::vector<listen_address> listen{{"127.0.0.1", 8080}};
  unsigned shards = 0;  // 0: one per CPU this process may run on (sched_getaffinity)
  bool pin_shards = true;
  io_backend io = io_backend::automatic;
  // io_uring: provided receive buffers per shard (a power of two) and their size. A connection
  // holds one only while its bytes are being processed; when all are in use, receives wait.
  std::uint32_t io_uring_buffers = 256;
  std::uint32_t io_uring_buffer_size = 16384;
  // Start even if another shoal listens on the same address (listen_guard.hpp): for a
  // zero-downtime upgrade only.
  bool share_listeners = false;
  // Operator endpoints only (/healthz, /readyz, /metrics), served by shard 0 outside
  // limits.max_connections and with a file descriptor held in reserve, so they answer when the
  // public listeners are full. Empty: none (the public listeners serve them too, as always).
  std::vector<listen_address> admin_listen{};
  // PROXY protocol v1/v2 (HAProxy's send-proxy, send-proxy-v2) on the client listeners (plain
  // and TLS; not the admin one): every
  // connection starts with the header, whose source address is then the client's (per-address
  // limits). proxy_trusted: CIDR networks the header is accepted from; empty: any source.
  bool proxy_protocol = false;
  std::vector<listen_address> proxy_listen{};  // only these client listeners (when proxy_protocol is false)
  std::vector<std::string> proxy_trusted{};
  // The operator's status page (/status) and its data (/metrics.json), on the client listeners
  // and the admin listener. Off: both answer 404 (/metrics stays).
  bool status_page = true;
  bool operator==(const server_config&) const = default;
};

// A zero idle or ping_interval turns that timer off.
struct timeouts_config {
  std::chrono::milliseconds handshake{5'000};
  std::chrono::milliseconds idle{120'000};
  std::chrono::milliseconds ping_interval{20'000};
  std::chrono::milliseconds pong_timeout{10'000};
  std::chrono::milliseconds close{3'000};
  std::chrono::milliseconds drain{5'000};  // shutdown spreads its 1001 closes over this long
  std::chrono::milliseconds shutdown_deadline{10'000};
  bool operator==(const timeouts_config&) const = default;
};

struct limits_config {
  std::uint64_t max_message_size = 1u << 20;  // bytes, summed over fragments
  std::uint32_t max_connections = 100'000;    // per process
  std::uint32_t max_topics_per_connection = 256;
  std::uint32_t max_header_bytes = 8192;  // whole HTTP request head
  std::uint32_t max_headers = 64;
  // Per /ws connection, inbound: token buckets over messages and bytes (rate per second, burst);
  // 0 = no limit. A refused request is answered `rate_limited`; past rate_limit_strikes refusals
  // in a row of bursts (one strike forgiven per second) the connection is closed with 1008.
  std::uint32_t messages_per_second = 0;
  std::uint32_t message_burst = 0;  // 0: the rate (one second's worth)
  std::uint32_t bytes_per_second = 0;
  std::uint32_t bytes_burst = 0;    // 0: the rate, and at least max_message_size
  std::uint32_t rate_limit_strikes = 20;
  // Per client address (the PROXY protocol's when behind a balancer): concurrent connections and
  // new connections per second (rate, burst); 0 = no limit. Refused with HTTP 429.
  std::uint32_t max_connections_per_address = 0;
  std::uint32_t connects_per_address_per_second = 0;
  std::uint32_t connect_burst_per_address = 0;  // 0: the rate
  bool operator==(const limits_config&) const = default;
};

struct backpressure_config {
  std::uint64_t high_watermark = 256u << 10;     // buffered bytes; above it, stop reading
  std::uint64_t slow_consumer_limit = 4u << 20;  // buffered bytes; above it, apply policy
  slow_consumer_policy policy = slow_consumer_policy::drop;
  bool operator==(const backpressure_config&) const = default;
};

struct pubsub_config {
  std::uint32_t ring_size = 4096;  // messages of history per topic; a power of two
  std::uint64_t history_bytes = 256u << 20;  // bytes of history kept, all topics, all shards
  std::uint64_t max_topics = 1'000'000;      // topics the server holds at once
  std::uint32_t max_topic_length = 200;
  std::string publish_token;  // non-empty: POST /publish needs "Authorization: Bearer <token>"
  // Bytes queued from one shard to another, per lane (requests; deliveries and answers), before
  // the publishers feeding them are held. 0: derived from memory (pubsub_hub.cpp).
  std::uint64_t queue_bytes = 0;
  bool operator==(const pubsub_config&) const = default;
};

struct security_config {
  std::vector<std::string> allowed_origins;  // empty: allow every Origin; else exact matches
  std::vector<std::string> subprotocols{"shoal.v1"};
  bool operator==(const security_config&) const = default;
};

// TLS listeners (wss://, https://), OpenSSL 3. The certificate files are read and checked at
// start-up and again on SIGHUP (tls_context.hpp); here they are paths only.
struct tls_config {
  std::vector<listen_address> listen;  // addresses that speak TLS (beside server.listen)
  std::string cert;   // PEM: the default certificate (its chain may follow it in the file)
  std::string key;    // PEM: its private key
  std::string chain;  // PEM: intermediate certificates, optional
  // Further certificates chosen by SNI: each a PEM file holding the certificate, its chain and
  // its key (the HAProxy "crt" format); picked when the client's server name matches one of the
  // certificate's DNS names (a "*." wildcard matches one label). Others get the default.
  std::vector<std::string> sni_certificates;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  // TLS 1.2 cipher list (OpenSSL syntax); TLS 1.3 suites are OpenSSL's defaults (all AEAD).
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  bool operator==(const tls_config&) const = default;
};

// permessage-deflate (RFC 7692). Off by default: compression costs CPU per message and, with
// context takeover, zlib memory per connection (see README, "Compression"). The defaults, once
// switched on, are the cheap mode: neither side keeps context, so each shard has one shared
// compressor (a broadcast is compressed once) and one shared decompressor, and a connection
// holds no zlib memory of its own.
struct deflate_config {
  std::vector<std::string> endpoints;  // WebSocket paths offering it ("/echo", "/ws"); empty: off
  bool server_context_takeover = false;  // true: a compressor per connection (unless the client declines)
  bool client_context_takeover = false;  // true: a decompressor per connection (unless the client declines)
  std::uint32_t server_max_window_bits = 15;  // 8..15: the window of our compressors
  std::uint32_t client_max_window_bits = 15;  // 8..15: the window clients may compress with
  std::uint32_t mem_level = 8;                // 1..9: zlib memLevel of our compressors
  std::uint32_t level = 6;                    // 1..9: zlib compression level
  std::uint64_t min_size = 64;  // smaller messages are sent uncompressed (RFC 7692 §6 allows it)
  bool operator==(const deflate_config&) const = default;
};

// A cluster of Shoal nodes through NATS JetStream (cluster_link.hpp, README "Cluster"). Empty
// `nats`: a single node, no NATS needed.
struct cluster_config {
  std::vector<std::string> nats;  // NATS server URLs (nats://host:port, tls://host:port)
  std::string node_name;          // "": the host name; shown to NATS and in logs
  std::string stream = "SHOAL";   // the JetStream stream holding every topic's history
  std::string subject_prefix = "shoal";  // topics live under <prefix>.t.<topic>
  std::uint32_t replicas = 1;            // stream replicas, 1..5 (JetStream's limit)
  // History that JetStream keeps: records per topic (a record holds one message, or several
  // published together while an earlier one was being confirmed), the age of a record, and the
  // bytes of the whole stream. 0 = no limit by that measure.
  std::uint64_t max_records_per_topic = 10'000;
  std::chrono::milliseconds max_age{0};
  std::uint64_t max_bytes = 1ull << 30;
  std::string credentials;  // NATS .creds file (JWT + NKey), optional
  std::string tls_ca;       // CA certificates (PEM) for tls:// NATS URLs, optional
  std::string tls_cert;     // client certificate (PEM) for NATS servers that verify clients
  std::string tls_key;      // its private key
  // A publish or a history read JetStream has not answered within this fails with `unavailable`.
  std::chrono::milliseconds request_timeout{5'000};
  bool operator==(const cluster_config&) const = default;
};

// Client authentication with JWTs (authenticator.hpp, README "Security"). No key files: off, every
// client may do everything (as before). With keys, clients present a token on the upgrade
// (Authorization: Bearer, or ?token=) or in a first message {"op":"auth"}; its claim "shoal"
// holds the topics it may subscribe to and publish on. Key files are re-read on SIGHUP.
struct auth_config {
  std::vector<std::string> jwt_secret_files;      // HMAC secrets (HS256/384/512), >= 32 bytes each
  std::vector<std::string> jwt_public_key_files;  // PEM public keys (RS*, ES256, ES384, EdDSA)
  std::string issuer;                  // non-empty: tokens must carry this "iss"
  std::vector<std::string> audience;   // non-empty: a token's "aud" must name one of these
  std::chrono::milliseconds clock_skew{30'000};  // allowed on "exp" and "nbf"
  bool required = true;  // false: a client without a token is anonymous (the two lists below)
  std::vector<std::string> anonymous_subscribe;  // topic patterns an anonymous client may read
  std::vector<std::string> anonymous_publish;    // and publish on
  std::uint32_t max_token_bytes = 8192;
  bool operator==(const auth_config&) const = default;
};

struct log_config {
  log_level level = log_level::info;
  bool operator==(const log_config&) const = default;
};

struct config {
  server_config server;
  timeouts_config timeouts;
  limits_config limits;
  backpressure_config backpressure;
  pubsub_config pubsub;
  security_config security;
  tls_config tls;
  deflate_config deflate;
  cluster_config cluster;
  auth_config auth;
  log_config log;
  bool operator==(const config&) const = default;
};

// --- Single values. A parse error is the problem alone ("port must be 1..65535"); the caller
// prefixes the key or flag it came from.

template <class T>
struct value_result {
  std::optional<T> value;  // set on success
  std::string error;       // set on failure
};

// "250ms", "5s", "2m", or a bare integer of milliseconds ("0" turns a timer off).
value_result<std::chrono::milliseconds> parse_duration(std::string_view text);
value_result<std::uint16_t> parse_port(std::string_view text);  // 1..65535
// "127.0.0.1:8080", "[::1]:8080", "localhost:8080".
value_result<listen_address> parse_listen_address(std::string_view text);
value_result<io_backend> parse_io_backend(std::string_view text);
value_result<slow_consumer_policy> parse_slow_consumer_policy(std::string_view text);
value_result<log_level> parse_log_level(std::string_view text);

std::string format_duration(std::chrono::milliseconds d);    // "5s", "250ms"; parses back
std::string format_listen_address(const listen_address& a);  // "[::1]:8080"
// Why `a` cannot be listened on (no host, not an IP address, port 0), or empty.
std::string listen_address_problem(const listen_address& a);
std::string_view to_string(io_backend v) noexcept;
std::string_view to_string(slow_consumer_policy v) noexcept;
std::string_view to_string(log_level v) noexcept;

// --- The whole struct.

struct config_issue {
  std::string key;      // "limits.max_message_size"
  std::string problem;  // "must be between 125 and 1073741824, got 12"
};

// Every rule over the final struct, in one place; empty when the config is usable.
std::vector<config_issue> validate(const config& cfg);

// Every key the TOML file accepts, as "table.key", in the order print_config() writes them.
std::vector<std::string> config_keys();

// The config as a TOML document, every key in struct order; parse_config_text() of it gives
// back an equal config.
std::string print_config(const config& cfg);

// A reload: `running` with the value from `next` of every key that differs and that
// `may_change` accepts (listed in `applied`); keys that differ but may not change keep their
// running value (listed in `kept`). Keys are "table.key", in print order.
config with_reloaded(const config& running, const config& next,
                     const std::function<bool(std::string_view key)>& may_change,
                     std::vector<std::string>& applied, std::vector<std::string>& kept);

// server.shards with 0 resolved to the CPUs in this process's affinity mask, at most 256.
unsigned resolved_shard_count(const server_config& server);
constexpr unsigned max_shards = 256;  // server.shards and the automatic count, at most

// --- Loading.

enum class config_action : std::uint8_t {
  run,   // settings holds the effective, validated configuration
  exit,  // print output to stdout and exit with exit_code (0): --help, --version, --print-config
  fail,  // print output to stderr and exit with exit_code (2): the error names key or flag
};

struct config_result {
  config_action action = config_action::run;
  config settings;
  std::string output;  // exit and fail: ready to print as is, ending in a newline
  int exit_code = 0;
};

// TOML text (a whole file) over `base`, then validate(). Never returns exit. source_name is used
// in messages ("shoal.toml:12:5: ...").
config_result parse_config_text(std::string_view toml, std::string_view source_name = "<config>",
                                const config& base = {});

// The command line of `shoal`: defaults < --config FILE < flags, then validate(). Flags that
// take a list (--listen, --allowed-origin) replace the file's list when given.
config_result load_config(int argc, const char* const* argv);

}  // namespace shoal::gateway
