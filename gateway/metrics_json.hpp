// GET /metrics.json: the server's own figures as one JSON document, for the status page
// (gateway/web/status.js) and for scripts that would rather not parse Prometheus text. The same
// counters as /metrics (metric_defs()), per shard and summed, plus the server's clock, uptime,
// and the node's cluster state. Never message contents, topics or client addresses. A pure
// function of what it is given; called on the shard thread that answers the request.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gateway/metrics.hpp"

namespace shoal::gateway {

class address_limits;
class cluster_link;

struct metrics_json_context {
  std::int64_t now_unix_ms = 0;  // the server's wall clock
  std::uint64_t uptime_ms = 0;   // since the server started
  bool draining = false;
  const cluster_link* cluster = nullptr;      // null on a single node
  const address_limits* addresses = nullptr;  // null when no per-address limit is on
};

// {"server":{...},"cluster":null|{...},"addresses":null|{...},"total":{...},"shards":[{...}]}.
// Each figure's name is its Prometheus name without "shoal_" and "_total"; README "Browser side"
// lists them.
std::string render_metrics_json(std::span<const shard_metrics* const> shards,
                                const metrics_json_context& context);

}  // namespace shoal::gateway
