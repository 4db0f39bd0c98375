// Prometheus text rendering of the per-shard metrics (see metrics.hpp), and the table of them
// that the JSON form shares.
#include "gateway/metrics.hpp"

#include <string_view>

#include "core/jwt.hpp"

namespace shoal::gateway {
namespace {

constexpr metric_def defs[] = {
    {"shoal_connections_accepted_total", "counter", "TCP connections accepted", &shard_metrics::connections_accepted},
    {"shoal_connections", "gauge", "TCP connections open", &shard_metrics::connections_open},
    {"shoal_websocket_connections", "gauge", "WebSocket connections open", &shard_metrics::websocket_open},
    {"shoal_handshakes_failed_total", "counter", "Upgrade requests refused", &shard_metrics::handshakes_failed},
    {"shoal_accept_paused_total", "counter", "Times accept paused at the open-file limit", &shard_metrics::accept_emfile},
    {"shoal_connections_refused_total", "counter", "Connections refused at max_connections", &shard_metrics::connections_refused_limit},
    {"shoal_admin_reserve_used_total", "counter",
     "Admin-listener connections accepted on the descriptor held in reserve (the process was at its open-file limit)",
     &shard_metrics::admin_reserve_used},
    {"shoal_http_requests_total", "counter", "Plain HTTP requests served", &shard_metrics::http_requests},
    {"shoal_messages_in_total", "counter", "WebSocket messages received", &shard_metrics::messages_in},
    {"shoal_messages_out_total", "counter", "WebSocket messages queued for sending", &shard_metrics::messages_out},
    {"shoal_deliveries_total", "counter",
     "Live messages handed to local subscribers (each then subject to its slow-consumer policy)",
     &shard_metrics::deliveries},
    {"shoal_bytes_in_total", "counter", "Bytes read from sockets", &shard_metrics::bytes_in},
    {"shoal_bytes_out_total", "counter", "Bytes written to sockets", &shard_metrics::bytes_out},
    {"shoal_writes_total", "counter", "Gather writes (system calls on epoll, sends submitted on io_uring)", &shard_metrics::writes},
    {"shoal_receive_buffers_dry_total", "counter", "io_uring receives stopped because every provided buffer was in use", &shard_metrics::receive_buffers_dry},
    {"shoal_receive_buffer_trims_total", "counter",
     "io_uring: times a quiet shard gave its receive buffers' pages back to the kernel after a burst",
     &shard_metrics::receive_buffer_trims},
    {"shoal_receive_buffer_trimmed_bytes_total", "counter",
     "io_uring: resident bytes of receive buffers given back by those trims",
     &shard_metrics::receive_buffer_bytes_trimmed},
    {"shoal_drops_total", "counter", "Messages skipped for slow consumers", &shard_metrics::drops},
    {"shoal_gaps_total", "counter", "Gap notices sent", &shard_metrics::gaps},
    {"shoal_publishes_refused_total", "counter",
     "Publishes refused (HTTP publish while the queues toward its shard are full: 503; or pubsub.max_topics reached)",
     &shard_metrics::publishes_refused},
    {"shoal_publishers_held_total", "counter",
     "Times a publisher's input was held because the queues toward its topic's shard were over pubsub.queue_bytes",
     &shard_metrics::publishers_held},
    {"shoal_inputs_held", "gauge",
     "Connections not read because their publishes' queues are full or their requests unanswered",
     &shard_metrics::inputs_held},
    {"shoal_internal_gaps_total", "counter",
     "Deliveries a shard never received (no internal queue drops: this stays 0)",
     &shard_metrics::internal_gaps},
    {"shoal_shard_queue_bytes", "gauge", "Bytes queued from this shard toward other shards (rings and overflow)",
     &shard_metrics::queued_bytes},
    {"shoal_shard_queue_limit_bytes", "gauge",
     "The bound on bytes queued per pair of shards and lane (pubsub.queue_bytes as applied)",
     &shard_metrics::queue_limit_bytes},
    {"shoal_deflate_compressed_total", "counter",
     "Messages compressed (permessage-deflate): each broadcast once, plus per-connection sends",
     &shard_metrics::deflate_compressed},
    {"shoal_deflate_shared_sends_total", "counter",
     "Compressed broadcast frames sent by reference, without compressing again",
     &shard_metrics::deflate_shared_sends},
    {"shoal_deflate_inflated_total", "counter", "Compressed messages received and inflated",
     &shard_metrics::deflate_inflated},
    {"shoal_cluster_published_total", "counter", "Messages stored in JetStream for this node's publishers",
     &shard_metrics::cluster_published},
    {"shoal_cluster_records_total", "counter", "Records sent to JetStream (each holds one or more messages)",
     &shard_metrics::cluster_records},
    {"shoal_cluster_publish_conflicts_total", "counter",
     "Records JetStream refused because another node had published to the topic first (renumbered and retried)",
     &shard_metrics::cluster_conflicts},
    {"shoal_cluster_publish_failures_total", "counter",
     "Publishes answered `unavailable` (NATS unreachable or no confirmation in time) or too large for NATS",
     &shard_metrics::cluster_publish_failures},
    {"shoal_cluster_live_records_total", "counter", "Stored records received live from NATS",
     &shard_metrics::cluster_live_records},
    {"shoal_cluster_fetches_total", "counter", "Records read from the stream (catching up, repairing a hole, resuming)",
     &shard_metrics::cluster_fetches},
    {"shoal_cluster_lost_total", "counter",
     "Messages announced as a gap because the stream no longer held them when this node looked",
     &shard_metrics::cluster_lost},
    {"shoal_cluster_topics_watched", "gauge", "Topics whose stored messages this node receives",
     &shard_metrics::cluster_topics_watched},
    {"shoal_tls_handshakes_total", "counter", "TLS handshakes completed", &shard_metrics::tls_handshakes},
    {"shoal_tls_handshakes_failed_total", "counter",
     "TLS connections that ended before their handshake completed (bad client, timeout, not TLS)",
     &shard_metrics::tls_handshakes_failed},
    {"shoal_auth_accepted_total", "counter", "Client tokens accepted (on the upgrade or in an auth message)",
     &shard_metrics::auth_accepted},
    {"shoal_auth_expired_total", "counter", "Connections closed (4001) because their token expired unrefreshed",
     &shard_metrics::auth_expired},
    {"shoal_unauthorized_total", "counter",
     "Subscribes and publishes refused because the connection's token does not allow the topic",
     &shard_metrics::unauthorized},
    {"shoal_rate_limited_total", "counter", "Requests refused as rate_limited (limits.messages_per_second, bytes_per_second)",
     &shard_metrics::rate_limited},
    {"shoal_rate_limit_closes_total", "counter",
     "Connections closed (1008) for staying over their rate limit (limits.rate_limit_strikes)",
     &shard_metrics::rate_limit_closes},
    {"shoal_proxy_headers_total", "counter", "PROXY protocol headers accepted (server.proxy_protocol)",
     &shard_metrics::proxy_headers},
    {"shoal_proxy_refused_total", "counter",
     "Connections closed for a missing or malformed PROXY header, or from outside server.proxy_trusted",
     &shard_metrics::proxy_refused},
    {"shoal_pings_sent_total", "counter", "Heartbeat pings sent", &shard_metrics::pings_sent},
    {"shoal_heartbeat_timeouts_total", "counter", "Peers closed for not answering pings", &shard_metrics::heartbeat_timeouts},
    {"shoal_buffered_bytes", "gauge", "Bytes queued for sending, not yet written", &shard_metrics::buffered_bytes},
    {"shoal_paused_reads", "gauge", "Connections not read because their output is above the high watermark", &shard_metrics::paused_reads},
};

// Appends one sample line: name{shard="s"[,label="v"]} value.
void sample(std::string& out, std::string_view name, std::size_t shard, std::string_view code,
            std::uint64_t value, std::string_view label = "code") {
  out += name;
  out += "{shard=\"";
  out += std::to_string(shard);
  if (!code.empty()) {
    out += "\",";
    out += label;
    out += "=\"";
    out += code;
  }
  out += "\"} ";
  out += std::to_string(value);
  out += '\n';
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

std::span<const metric_def> metric_defs() noexcept { return defs; }

std::string close_slot_name(std::size_t slot) {
  return slot + 1 >= shard_metrics::close_slots ? "other" : std::to_string(1000 + slot);
}

std::string_view auth_refused_slot_name(std::size_t slot) {
  return slot == 0 ? "missing_token" : core::to_string(static_cast<core::jwt_error>(slot));
}

std::string render_prometheus(std::span<const shard_metrics* const> shards, bool draining) {
  std::string out;
  out.reserve(4096 + shards.size() * 2048);
  for (const metric_def& d : defs) {
    header(out, d.name, d.type, d.help);
    for (std::size_t s = 0; s < shards.size(); ++s)
      sample(out, d.name, s, {}, (shards[s]->*d.field).load(std::memory_order_relaxed));
  }
  header(out, "shoal_closes_total", "counter", "Close frames sent, by close code");
  for (std::size_t s = 0; s < shards.size(); ++s) {
    for (std::size_t i = 0; i < shard_metrics::close_slots; ++i) {
      const std::uint64_t v = shards[s]->closes_by_code[i].load(std::memory_order_relaxed);
      if (v == 0) continue;
      sample(out, "shoal_closes_total", s, close_slot_name(i), v);
    }
  }
  header(out, "shoal_auth_refused_total", "counter",
         "Client tokens refused, by reason (missing_token: none on an /echo upgrade, or no auth message in time)");
  for (std::size_t s = 0; s < shards.size(); ++s) {
    for (std::size_t i = 0; i < shard_metrics::auth_reason_slots; ++i) {
      const std::uint64_t v = shards[s]->auth_refused[i].load(std::memory_order_relaxed);
      if (v == 0) continue;
      sample(out, "shoal_auth_refused_total", s, auth_refused_slot_name(i), v, "reason");
    }
  }
  header(out, "shoal_draining", "gauge", "1 while the server drains for shutdown");
  out += draining ? "shoal_draining 1\n" : "shoal_draining 0\n";
  return out;
}

}  // namespace shoal::gateway
