// What a connection may use of the shard that owns it: settings in ticks, the shard's read
// buffer, timer wheel and state pools, its metrics, the lists of connections to flush or read again this
// loop pass, and the server-wide state. Built by the shard; used on the shard's thread only.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/deflate_pool.hpp"
#include "core/permessage_deflate.hpp"
#include "gateway/address_limits.hpp"
#include "gateway/authenticator.hpp"
#include "gateway/config.hpp"
#include "gateway/metrics.hpp"
#include "gateway/tls_context.hpp"
#include "gateway/timer_wheel.hpp"

namespace shoal::gateway {

class connection;
class pubsub_hub;
class uring_backend;
class reactor_backend;
class transport;
struct conn_pools;
class cluster_link;

constexpr std::uint64_t tick_ms = 10;  // timer resolution

// Limits and timeouts as a connection sees them (durations in ticks, 0 = off).
struct connection_settings {
  std::uint64_t handshake_ticks = 500;
  std::uint64_t idle_ticks = 0;
  std::uint64_t ping_interval_ticks = 2000;
  std::uint64_t pong_timeout_ticks = 1000;
  std::uint64_t close_ticks = 300;
  std::uint64_t max_message_size = 1u << 20;
  std::size_t max_header_bytes = 8192;
  std::size_t max_headers = 64;
  std::size_t high_watermark = 256 * 1024;  // stop reading above this many buffered bytes
  std::size_t low_watermark = 128 * 1024;   // resume reading below this
  std::size_t slow_consumer_limit = 4u << 20;  // above it, the policy applies to deliveries
  slow_consumer_policy policy = slow_consumer_policy::drop;
  std::size_t max_topics_per_connection = 256;
  std::size_t max_topic_length = 200;
  std::string publish_token;                 // non-empty: POST /publish needs it as a Bearer token
  std::vector<std::string> allowed_origins;  // empty: any origin
  std::vector<std::string> subprotocols;     // offered, in our order of preference
  // permessage-deflate: the negotiation policy, where it is offered, and the size below which
  // messages go uncompressed.
  core::deflate_policy deflate;
  bool deflate_echo = false;
  bool deflate_pubsub = false;
  std::size_t deflate_min_size = 64;
  // Inbound rate limits of a /ws connection (0 = none), and the refusals it may collect.
  std::uint32_t messages_per_second = 0;
  std::uint32_t message_burst = 0;
  std::uint32_t bytes_per_second = 0;
  std::uint32_t bytes_burst = 0;
  std::uint32_t rate_limit_strikes = 20;
  bool status_page = true;  // serve /status and /metrics.json (server.status_page)
};

// Server-wide state shared by every shard: written rarely, read on HTTP requests and accepts.
struct server_state {
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();  // uptime
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> connections{0};  // TCP connections held, all shards
  std::vector<const shard_metrics*> shard_metrics_list;  // set before the shards start
  tls_store tls;  // the current certificates, replaced on SIGHUP
  auth_store auth;  // the current JWT keys and rules, replaced on SIGHUP
  // Connection settings replaced by a SIGHUP reload (limits, origins, publish token); each
  // shard copies them between loop passes. Empty until the first reload.
  current_value<connection_settings> reloaded_settings;
  // Per client address: connections held and connects per second; null when neither is limited.
  std::unique_ptr<address_limits> addresses;
  cluster_link* cluster = nullptr;  // the link to NATS JetStream; null on a single node
};

struct shard_context {
  const connection_settings& settings;
  shard_metrics& metrics;
  server_state& server;
  timer_wheel& timers;
  std::span<std::uint8_t> read_buffer;
  std::vector<connection*>& dirty;       // have output to write at the end of the pass
  std::vector<connection*>& read_again;  // may have more input, or were resumed
  std::vector<connection*>& closed;      // closed this pass; freed at the end of the pass
  conn_pools& pools;                     // input and output state for busy connections
  std::uint64_t now = 0;                 // current tick
  pubsub_hub* hub = nullptr;             // the shard's pub/sub engine
  std::string scratch;                   // reused to encode short replies before queueing them
  core::deflate_pool* deflate = nullptr;  // the shard's shared compressors and decompressors
  std::vector<std::uint8_t> deflate_out;  // a compressed frame before it is queued
  std::vector<std::uint8_t> inflated;     // a message inflated by a shared decompressor
  std::vector<std::uint8_t> tls_record;   // small frames gathered into one TLS record
  reactor_backend* backend = nullptr;     // the shard's reactor
  uring_backend* uring = nullptr;         // the same, when the shard runs on io_uring
  // The shard's transports by transport_kind (plain, TLS); a connection's link names its kind.
  std::array<transport*, 2> transports{};
  // Per-address limits on: the address each admitted connection counts against, until the
  // shard frees it (the shard's table; connections add to it after a PROXY header).
  std::unordered_map<std::uint64_t, address_limits::key>* address_holds = nullptr;
  // This shard's copy of server.auth (see current_auth()).
  std::shared_ptr<const authenticator> auth;
  std::uint64_t auth_generation = 0;
};

// The authenticator in force: the shard's copy, refreshed when SIGHUP published a new one (one
// atomic load per call; called per upgrade and per `auth` message, not per message).
inline const authenticator* current_auth(shard_context& ctx) {
  const std::uint64_t generation = ctx.server.auth.generation();
  if (generation != ctx.auth_generation) {
    ctx.auth = ctx.server.auth.get();
    ctx.auth_generation = generation;
  }
  return ctx.auth.get();
}

}  // namespace shoal::gateway
