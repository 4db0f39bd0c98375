// Per-shard counters and gauges for /metrics (Prometheus text format). Each shard writes only
// its own shard_metrics (relaxed atomic stores by the one owner thread); any shard may read all
// of them to answer a scrape. These atomics are one of the few named cross-thread places.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace shoal::gateway {

class shard_metrics {
 public:
  using counter = std::atomic<std::uint64_t>;
  // Owner-thread increment: a relaxed load and store, not a locked read-modify-write, since
  // only the owning shard writes.
  static void add(counter& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void sub(counter& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  static void set(counter& c, std::uint64_t v) noexcept { c.store(v, std::memory_order_relaxed); }

  counter connections_accepted{0};
  counter connections_open{0};        // gauge: TCP connections held
  counter websocket_open{0};          // gauge: upgraded connections
  counter handshakes_failed{0};
  counter accept_emfile{0};           // accept paused on EMFILE/ENFILE
  counter connections_refused_limit{0};
  counter admin_reserve_used{0};      // admin connections accepted on the reserved descriptor
  counter http_requests{0};
  counter messages_in{0};
  counter messages_out{0};
  counter deliveries{0};              // live messages handed to this shard's subscribers
  counter bytes_in{0};
  counter bytes_out{0};
  counter writes{0};                  // gather writes (syscalls on epoll, SQEs on io_uring)
  counter receive_buffers_dry{0};     // io_uring: receives stopped for lack of provided buffers
  counter receive_buffer_trims{0};    // io_uring: receive buffers given back after a burst
  counter receive_buffer_bytes_trimmed{0};  // io_uring: resident bytes those trims gave back
  counter drops{0};                   // messages skipped for slow consumers
  counter gaps{0};                    // gap notices sent
  counter publishes_refused{0};       // publishes refused: HTTP with full queues, topic limit
  counter publishers_held{0};         // publishes after which the publisher's input was held
  counter inputs_held{0};             // gauge: connections whose input is held (conn_hold)
  counter internal_gaps{0};           // deliveries a shard never got (must stay 0)
  counter queued_bytes{0};            // gauge: bytes queued toward other shards
  counter queue_limit_bytes{0};       // gauge: pubsub.queue_bytes as applied (per shard pair, lane)
  counter cluster_published{0};       // messages JetStream stored for this shard's publishers
  counter cluster_records{0};         // records sent to JetStream (one or more messages each)
  counter cluster_conflicts{0};       // records refused because another node had numbered first
  counter cluster_publish_failures{0};  // publishes answered `unavailable` (or too big for NATS)
  counter cluster_live_records{0};    // stored records received live from NATS
  counter cluster_fetches{0};         // records read from the stream (sync, repair, resume)
  counter cluster_lost{0};            // messages announced as gaps: the stream no longer had them
  counter cluster_topics_watched{0};  // gauge: topics whose live copies this shard receives
  counter deflate_compressed{0};      // messages compressed
  counter deflate_shared_sends{0};    // compressed broadcast variants queued by reference
  counter deflate_inflated{0};        // compressed messages inflated
  counter tls_handshakes{0};          // TLS handshakes completed
  counter tls_handshakes_failed{0};   // TLS connections that ended before the handshake completed
  // Authentication (README "Security"): tokens accepted (upgrade or `auth` message), refused by
  // reason (core::jwt_error's index; slot 0, jwt_error::none, counts clients that sent none in
  // time), connections closed at their token's expiry, requests outside the token's topics.
  static constexpr std::size_t auth_reason_slots = 18;
  counter auth_accepted{0};
  counter auth_refused[auth_reason_slots]{};
  counter auth_expired{0};
  counter unauthorized{0};
  counter rate_limited{0};            // /ws requests refused as rate_limited
  counter rate_limit_closes{0};       // connections closed (1008) for staying over their rate limit
  counter proxy_headers{0};           // PROXY protocol headers accepted
  counter proxy_refused{0};           // connections closed: bad PROXY header, or an untrusted source
  counter pings_sent{0};
  counter heartbeat_timeouts{0};
  counter buffered_bytes{0};          // gauge: bytes queued, not yet written
  counter paused_reads{0};            // gauge: connections above the high watermark
  // Close frames sent, by code: 1000..1015 in [code-1000], everything else in the last slot.
  static constexpr std::size_t close_slots = 17;
  counter closes_by_code[close_slots]{};

  void count_close(std::uint16_t code) noexcept {
    add(closes_by_code[code >= 1000 && code < 1016 ? code - 1000 : close_slots - 1]);
  }
};

// One counter or gauge of shard_metrics: its Prometheus name, type and help, and the member.
struct metric_def {
  const char* name;
  const char* type;  // "counter" or "gauge"
  const char* help;
  shard_metrics::counter shard_metrics::*field;
};

// Every plain counter and gauge of shard_metrics (not the per-code and per-reason arrays), in
// exposition order; render_prometheus and the JSON form (metrics_json.hpp) both walk it.
std::span<const metric_def> metric_defs() noexcept;

// The close code a closes_by_code slot stands for ("1000".."1015", "other"), and the reason an
// auth_refused slot stands for.
std::string close_slot_name(std::size_t slot);
std::string_view auth_refused_slot_name(std::size_t slot);

// Renders every shard's metrics, labelled by shard, in the Prometheus text exposition format.
std::string render_prometheus(std::span<const shard_metrics* const> shards, bool draining);

}  // namespace shoal::gateway
