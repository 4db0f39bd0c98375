// Internal to config*.cpp: the one list of settings (TOML table and key, CLI flag, help text),
// visited generically by the TOML reader, the printer, the CLI builder and config_keys(), so a
// setting is added in exactly one place. Also the text codecs shared by flags and the file.
// Pure functions; used on the main thread during start-up.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.hpp"

namespace shoal::gateway::detail {

struct field_info {
  std::string_view table;       // "limits"
  std::string_view key;         // "max_message_size"
  std::string_view flag;        // "--max-message-size"
  std::string_view value_name;  // shown in --help: "BYTES"
  std::string_view help;
  bool secret = false;  // never printed by --print-config
};

// Calls visit(field_info, member&) for every setting, in print order. Config is config or
// const config.
template <class Config, class Visit>
void for_each_field(Config& c, Visit&& visit) {
  auto& s = c.server;
  visit(field_info{"server", "listen", "--listen", "HOST:PORT",
                   "Address to listen on; IPv6 as [::1]:8080"},
        s.listen);
  visit(field_info{"server", "shards", "--shards", "N",
                   "Shard threads, 0..256; 0 = one per CPU this process may use"},
        s.shards);
  visit(field_info{"server", "pin_shards", "--pin-shards", "true|false",
                   "Pin each shard thread to one CPU"},
        s.pin_shards);
  visit(field_info{"server", "io", "--io", "auto|epoll|io_uring",
                   "I/O backend; auto: io_uring on Linux 6.1+, else epoll; io_uring falls back to "
                   "epoll (with a warning) where unavailable"},
        s.io);
  visit(field_info{"server", "io_uring_buffers", "--io-uring-buffers", "N",
                   "io_uring: provided receive buffers per shard, a power of two up to 32768"},
        s.io_uring_buffers);
  visit(field_info{"server", "io_uring_buffer_size", "--io-uring-buffer-size", "BYTES",
                   "io_uring: size of each receive buffer; 512..1048576"},
        s.io_uring_buffer_size);
  visit(field_info{"server", "share_listeners", "--share-listeners", "true|false",
                   "Start even if another shoal listens on the same address (by default that is "
                   "refused): for a zero-downtime upgrade, start the new one with this, then "
                   "SIGTERM the old one"},
        s.share_listeners);
  visit(field_info{"server", "admin_listen", "--admin-listen", "HOST:PORT",
                   "Address for /healthz, /readyz and /metrics only, answered even when the "
                   "public listeners are full (point health checks and Prometheus here); "
                   "repeatable"},
        s.admin_listen);
  visit(field_info{"server", "proxy_protocol", "--proxy-protocol", "true|false",
                   "Every connection on the client listeners (plain and TLS) starts with a PROXY "
                   "protocol v1 or v2 header (HAProxy send-proxy-v2); its source is the client's "
                   "address"},
        s.proxy_protocol);
  visit(field_info{"server", "proxy_listen", "--proxy-listen", "HOST:PORT",
                   "A client listener (of server.listen or tls.listen) that takes PROXY headers, "
                   "when proxy_protocol is not on for all; repeatable"},
        s.proxy_listen);
  visit(field_info{"server", "proxy_trusted", "--proxy-trusted", "CIDR",
                   "With proxy_protocol: networks the balancer connects from (others are closed); "
                   "repeatable; none = any"},
        s.proxy_trusted);
  visit(field_info{"server", "status_page", "--status-page", "true|false",
                   "Serve the live status page (/status) and the metrics as JSON (/metrics.json), "
                   "on the client and admin listeners; reloaded on SIGHUP"},
        s.status_page);
  auto& t = c.timeouts;
  visit(field_info{"timeouts", "handshake", "--handshake-timeout", "DURATION",
                   "Time allowed for the HTTP upgrade; > 0"},
        t.handshake);
  visit(field_info{"timeouts", "idle", "--idle-timeout", "DURATION",
                   "Close a connection silent for this long; 0 = off"},
        t.idle);
  visit(field_info{"timeouts", "ping_interval", "--ping-interval", "DURATION",
                   "Ping each peer this often; 0 = off"},
        t.ping_interval);
  visit(field_info{"timeouts", "pong_timeout", "--pong-timeout", "DURATION",
                   "Close a peer that has not answered a ping after this long; > 0"},
        t.pong_timeout);
  visit(field_info{"timeouts", "close", "--close-timeout", "DURATION",
                   "Wait this long for the peer's close frame, then drop the connection; > 0"},
        t.close);
  visit(field_info{"timeouts", "drain", "--drain", "DURATION",
                   "On shutdown, spread the 1001 closes over this long; <= shutdown_deadline"},
        t.drain);
  visit(field_info{"timeouts", "shutdown_deadline", "--shutdown-deadline", "DURATION",
                   "On shutdown, exit after this long whatever is still open; > 0"},
        t.shutdown_deadline);
  auto& l = c.limits;
  visit(field_info{"limits", "max_message_size", "--max-message-size", "BYTES",
                   "Largest message, summed over fragments; 125..1073741824 (else close 1009)"},
        l.max_message_size);
  visit(field_info{"limits", "max_connections", "--max-connections", "N",
                   "Connections per process, >= 1"},
        l.max_connections);
  visit(field_info{"limits", "max_topics_per_connection", "--max-topics-per-connection", "N",
                   "Subscriptions per connection, >= 1"},
        l.max_topics_per_connection);
  visit(field_info{"limits", "max_header_bytes", "--max-header-bytes", "BYTES",
                   "Size of an HTTP request head; 1024..1048576"},
        l.max_header_bytes);
  visit(field_info{"limits", "max_headers", "--max-headers", "N",
                   "Header fields in an HTTP request; 5..1024"},
        l.max_headers);
  visit(field_info{"limits", "messages_per_second", "--messages-per-second", "N",
                   "Messages a /ws connection may send per second; past it requests are answered "
                   "rate_limited; 0 = no limit"},
        l.messages_per_second);
  visit(field_info{"limits", "message_burst", "--message-burst", "N",
                   "Messages a /ws connection may send at once above the rate; 0 = the rate"},
        l.message_burst);
  visit(field_info{"limits", "bytes_per_second", "--bytes-per-second", "BYTES",
                   "Message bytes a /ws connection may send per second; 0 = no limit"},
        l.bytes_per_second);
  visit(field_info{"limits", "bytes_burst", "--bytes-burst", "BYTES",
                   "Message bytes a /ws connection may send at once; 0 = the rate (at least "
                   "max_message_size)"},
        l.bytes_burst);
  visit(field_info{"limits", "rate_limit_strikes", "--rate-limit-strikes", "N",
                   "Requests refused as rate_limited, one forgiven per second, after which the "
                   "connection is closed with 1008; >= 1"},
        l.rate_limit_strikes);
  visit(field_info{"limits", "max_connections_per_address", "--max-connections-per-address", "N",
                   "Connections one client address may hold (HTTP 429 past it); 0 = no limit"},
        l.max_connections_per_address);
  visit(field_info{"limits", "connects_per_address_per_second", "--connects-per-address-per-second",
                   "N", "New connections one client address may open per second (HTTP 429 past "
                   "it); 0 = no limit"},
        l.connects_per_address_per_second);
  visit(field_info{"limits", "connect_burst_per_address", "--connect-burst-per-address", "N",
                   "New connections one address may open at once above the rate; 0 = the rate"},
        l.connect_burst_per_address);
  auto& b = c.backpressure;
  visit(field_info{"backpressure", "high_watermark", "--high-watermark", "BYTES",
                   "Buffered bytes for a connection above which Shoal stops reading from it"},
        b.high_watermark);
  visit(field_info{"backpressure", "slow_consumer_limit", "--slow-consumer-limit", "BYTES",
                   "Buffered bytes above which the policy applies; >= high_watermark"},
        b.slow_consumer_limit);
  visit(field_info{"backpressure", "policy", "--policy", "drop|close|conflate",
                   "What to do with a slow consumer"},
        b.policy);
  auto& p = c.pubsub;
  visit(field_info{"pubsub", "ring_size", "--ring-size", "N",
                   "Messages of history per topic; a power of two, 16..1048576"},
        p.ring_size);
  visit(field_info{"pubsub", "history_bytes", "--history-bytes", "BYTES",
                   "Bytes of history kept over all topics; past it the oldest messages go"},
        p.history_bytes);
  visit(field_info{"pubsub", "queue_bytes", "--queue-bytes", "BYTES",
                   "Bytes queued from one shard to another per lane before publishers are held "
                   "(WebSocket: not read; HTTP: 503); 0 = derived from memory"},
        p.queue_bytes);
  visit(field_info{"pubsub", "max_topics", "--max-topics", "N",
                   "Topics held at once (with history or subscribers); new ones are refused past it"},
        p.max_topics);
  visit(field_info{"pubsub", "max_topic_length", "--max-topic-length", "BYTES",
                   "Longest topic name; 1..65535"},
        p.max_topic_length);
  visit(field_info{"pubsub", "publish_token", "--publish-token", "TOKEN",
                   "If set, POST /publish needs 'Authorization: Bearer TOKEN' (a flag is visible "
                   "in ps; prefer the file)",
                   true},
        p.publish_token);
  auto& sec = c.security;
  visit(field_info{"security", "allowed_origins", "--allowed-origin", "ORIGIN",
                   "Allowed Origin, exactly as browsers send it (https://app.example.com); "
                   "none = allow all"},
        sec.allowed_origins);
  visit(field_info{"security", "subprotocols", "--subprotocol", "NAME",
                   "Subprotocol offered, in order of preference"},
        sec.subprotocols);
  auto& tls = c.tls;
  visit(field_info{"tls", "listen", "--tls-listen", "HOST:PORT",
                   "Address to listen on with TLS (wss://, https://); needs tls.cert and tls.key"},
        tls.listen);
  visit(field_info{"tls", "cert", "--tls-cert", "FILE",
                   "PEM certificate for TLS listeners (its chain may follow it); reloaded on SIGHUP"},
        tls.cert);
  visit(field_info{"tls", "key", "--tls-key", "FILE", "PEM private key of tls.cert"}, tls.key);
  visit(field_info{"tls", "chain", "--tls-chain", "FILE",
                   "PEM intermediate certificates, if not in tls.cert"},
        tls.chain);
  visit(field_info{"tls", "sni_certificates", "--tls-sni-cert", "FILE",
                   "PEM file with certificate, chain and key, chosen by SNI server name"},
        tls.sni_certificates);
  visit(field_info{"tls", "min_version", "--tls-min-version", "1.2|1.3",
                   "Oldest TLS version accepted"},
        tls.min_version);
  visit(field_info{"tls", "ciphers", "--tls-ciphers", "LIST",
                   "TLS 1.2 cipher list (OpenSSL syntax); TLS 1.3 uses OpenSSL's AEAD suites"},
        tls.ciphers);
  auto& d = c.deflate;
  visit(field_info{"deflate", "endpoints", "--deflate-endpoint", "PATH",
                   "WebSocket endpoint offering permessage-deflate (/echo, /ws); none = off; "
                   "--permessage-deflate offers it on all"},
        d.endpoints);
  visit(field_info{"deflate", "server_context_takeover", "--deflate-server-context-takeover",
                   "true|false",
                   "Keep a compressor per connection (better ratio, ~130-260 KiB each); false = one "
                   "shared compressor per shard, each broadcast compressed once"},
        d.server_context_takeover);
  visit(field_info{"deflate", "client_context_takeover", "--deflate-client-context-takeover",
                   "true|false",
                   "Let clients keep their context (a decompressor per connection, ~39 KiB at "
                   "window 15); false = one shared decompressor per shard"},
        d.client_context_takeover);
  visit(field_info{"deflate", "server_max_window_bits", "--deflate-server-window-bits", "BITS",
                   "Window of our compressors, 8..15"},
        d.server_max_window_bits);
  visit(field_info{"deflate", "client_max_window_bits", "--deflate-client-window-bits", "BITS",
                   "Window clients may compress with, 8..15 (below 15 only clients that offer "
                   "client_max_window_bits are accepted)"},
        d.client_max_window_bits);
  visit(field_info{"deflate", "mem_level", "--deflate-mem-level", "N",
                   "zlib memLevel of our compressors, 1..9"},
        d.mem_level);
  visit(field_info{"deflate", "level", "--deflate-level", "N", "zlib compression level, 1..9"},
        d.level);
  visit(field_info{"deflate", "min_size", "--deflate-min-size", "BYTES",
                   "Messages smaller than this are sent uncompressed"},
        d.min_size);
  auto& cl = c.cluster;
  visit(field_info{"cluster", "nats", "--nats", "URL",
                   "NATS server (nats://HOST:PORT or tls://HOST:PORT) to join a cluster through "
                   "JetStream; repeatable; none = a single node"},
        cl.nats);
  visit(field_info{"cluster", "node_name", "--node-name", "NAME",
                   "This node's name in NATS and in logs; empty = the host name"},
        cl.node_name);
  visit(field_info{"cluster", "stream", "--nats-stream", "NAME",
                   "JetStream stream holding the topics' history (created or updated at start)"},
        cl.stream);
  visit(field_info{"cluster", "subject_prefix", "--nats-subject-prefix", "PREFIX",
                   "Topics are the NATS subjects PREFIX.t.<topic> (live copies: PREFIX.live.<topic>)"},
        cl.subject_prefix);
  visit(field_info{"cluster", "replicas", "--nats-replicas", "N",
                   "Replicas of the stream, 1..5 (needs as many JetStream servers)"},
        cl.replicas);
  visit(field_info{"cluster", "max_records_per_topic", "--nats-max-records-per-topic", "N",
                   "History records JetStream keeps per topic; 0 = no limit"},
        cl.max_records_per_topic);
  visit(field_info{"cluster", "max_age", "--nats-max-age", "DURATION",
                   "History older than this is removed; 0 = no limit"},
        cl.max_age);
  visit(field_info{"cluster", "max_bytes", "--nats-max-bytes", "BYTES",
                   "Bytes of history in the whole stream, oldest removed first; 0 = no limit"},
        cl.max_bytes);
  visit(field_info{"cluster", "credentials", "--nats-credentials", "FILE",
                   "NATS credentials file (.creds)"},
        cl.credentials);
  visit(field_info{"cluster", "tls_ca", "--nats-tls-ca", "FILE",
                   "CA certificates (PEM) to verify tls:// NATS servers"},
        cl.tls_ca);
  visit(field_info{"cluster", "tls_cert", "--nats-tls-cert", "FILE",
                   "Client certificate (PEM, chain may follow) for NATS servers that verify clients"},
        cl.tls_cert);
  visit(field_info{"cluster", "tls_key", "--nats-tls-key", "FILE", "Private key of cluster.tls_cert"},
        cl.tls_key);
  visit(field_info{"cluster", "request_timeout", "--nats-request-timeout", "DURATION",
                   "A publish or history read JetStream has not answered in this long fails "
                   "(publish: error `unavailable`); > 0"},
        cl.request_timeout);
  auto& a = c.auth;
  visit(field_info{"auth", "jwt_secret_file", "--jwt-secret-file", "FILE",
                   "File holding an HMAC secret (HS256/384/512, >= 32 bytes) that signs client "
                   "JWTs; its name without extension is its kid; repeatable; reloaded on SIGHUP"},
        a.jwt_secret_files);
  visit(field_info{"auth", "jwt_public_key_file", "--jwt-public-key-file", "FILE",
                   "PEM public key (RSA >= 2048: RS256/384/512, P-256: ES256, P-384: ES384, "
                   "Ed25519: EdDSA) that verifies client JWTs; kid as above; repeatable"},
        a.jwt_public_key_files);
  visit(field_info{"auth", "issuer", "--jwt-issuer", "ISS",
                   "Tokens must carry this iss; empty = not checked"},
        a.issuer);
  visit(field_info{"auth", "audience", "--jwt-audience", "AUD",
                   "Tokens' aud must name one of these; repeatable; none = not checked"},
        a.audience);
  visit(field_info{"auth", "clock_skew", "--jwt-clock-skew", "DURATION",
                   "Clock difference allowed on exp and nbf; <= 10m"},
        a.clock_skew);
  visit(field_info{"auth", "required", "--auth-required", "true|false",
                   "With keys: every client needs a token; false = clients without one are "
                   "anonymous with the anonymous_* permissions"},
        a.required);
  visit(field_info{"auth", "anonymous_subscribe", "--anonymous-subscribe", "PATTERN",
                   "Topic pattern (a.*, a.>) anonymous clients may subscribe to; repeatable"},
        a.anonymous_subscribe);
  visit(field_info{"auth", "anonymous_publish", "--anonymous-publish", "PATTERN",
                   "Topic pattern anonymous clients may publish on; repeatable"},
        a.anonymous_publish);
  visit(field_info{"auth", "max_token_bytes", "--max-token-bytes", "BYTES",
                   "Longest token accepted; 256..65536"},
        a.max_token_bytes);
  visit(field_info{"log", "level", "--log-level", "error|warn|info|debug", "Log level"},
        c.log.level);
}

template <class T>
concept count_type = std::unsigned_integral<T> && !std::same_as<T, bool>;

template <class T>
inline constexpr bool is_list = false;
template <class T>
inline constexpr bool is_list<std::vector<T>> = true;

// A decimal integer, digits only.
value_result<std::uint64_t> parse_unsigned(std::string_view text);

// Text (a flag's value, or a TOML string) into a setting. Returns "" or the problem.
template <count_type T>
std::string assign_text(std::string_view text, T& out) {
  auto parsed = parse_unsigned(text);
  if (!parsed.value) return parsed.error;
  if (*parsed.value > std::numeric_limits<T>::max()) {
    return "must be at most " + std::to_string(std::numeric_limits<T>::max());
  }
  out = static_cast<T>(*parsed.value);
  return {};
}
std::string assign_text(std::string_view text, bool& out);
std::string assign_text(std::string_view text, std::chrono::milliseconds& out);
std::string assign_text(std::string_view text, std::string& out);
std::string assign_text(std::string_view text, io_backend& out);
std::string assign_text(std::string_view text, slow_consumer_policy& out);
std::string assign_text(std::string_view text, log_level& out);
// A list element: appends to out.
std::string assign_text(std::string_view text, std::vector<listen_address>& out);
std::string assign_text(std::string_view text, std::vector<std::string>& out);

// A setting as plain text, for --help defaults; lists are joined with ", ".
template <count_type T>
std::string format_text(T v) {
  return std::to_string(v);
}
std::string format_text(bool v);
std::string format_text(std::chrono::milliseconds v);
std::string format_text(const std::string& v);
std::string format_text(io_backend v);
std::string format_text(slow_consumer_policy v);
std::string format_text(log_level v);
std::string format_text(const std::vector<listen_address>& v);
std::string format_text(const std::vector<std::string>& v);

// Where each key got its value ("shoal.toml:3:10" or "--shards"), for messages.
using origin_map = std::map<std::string, std::string, std::less<>>;

// validate() with each issue on its own line, prefixed "config error: " and suffixed with the
// origin of the key when known. "" when there are no issues.
std::string check(const config& cfg, const origin_map& origins);

// Reads TOML text over cfg, recording origins. Returns "" or the message (with source position).
std::string apply_toml(std::string_view toml, std::string_view source_name, config& cfg,
                       origin_map& origins);

enum class secrets : std::uint8_t { shown, redacted };
std::string print_toml(const config& cfg, secrets mode);

}  // namespace shoal::gateway::detail
