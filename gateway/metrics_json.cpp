// The JSON form of the metrics (see metrics_json.hpp). Totals are sums over shards, except the
// queue bound, which is one setting every shard shows (its total is that setting, not a sum).
#include "gateway/metrics_json.hpp"

#include <algorithm>
#include <string_view>

#include "gateway/address_limits.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/pubsub_protocol.hpp"

namespace shoal::gateway {
namespace {

// "shoal_messages_in_total" -> "messages_in".
std::string_view json_name(std::string_view prometheus) {
  if (prometheus.starts_with("shoal_")) prometheus.remove_prefix(6);
  if (prometheus.ends_with("_total")) prometheus.remove_suffix(6);
  return prometheus;
}

void key(std::string& out, std::string_view name) {
  out += '"';
  out += name;  // our own names: nothing to escape
  out += "\":";
}

void number(std::string& out, std::string_view name, std::uint64_t v) {
  key(out, name);
  out += std::to_string(v);
  out += ',';
}

// Closes an object or array whose last member left a trailing comma.
void close(std::string& out, char c) {
  if (out.back() == ',') out.back() = c;
  else out += c;
}

// {"name":value,...,"closes":{"1000":n},"auth_refused":{"reason":n}} for the shards given
// (one shard, or all of them summed).
void figures(std::string& out, std::span<const shard_metrics* const> shards) {
  out += '{';
  for (const metric_def& d : metric_defs()) {
    std::uint64_t v = 0;
    for (const shard_metrics* s : shards) {
      const std::uint64_t x = (s->*d.field).load(std::memory_order_relaxed);
      v = d.field == &shard_metrics::queue_limit_bytes ? std::max(v, x) : v + x;
    }
    number(out, json_name(d.name), v);
  }
  key(out, "closes");
  out += '{';
  for (std::size_t i = 0; i < shard_metrics::close_slots; ++i) {
    std::uint64_t v = 0;
    for (const shard_metrics* s : shards) v += s->closes_by_code[i].load(std::memory_order_relaxed);
    if (v != 0) number(out, close_slot_name(i), v);
  }
  close(out, '}');
  out += ',';
  key(out, "auth_refused");
  out += '{';
  for (std::size_t i = 0; i < shard_metrics::auth_reason_slots; ++i) {
    std::uint64_t v = 0;
    for (const shard_metrics* s : shards) v += s->auth_refused[i].load(std::memory_order_relaxed);
    if (v != 0) number(out, auth_refused_slot_name(i), v);
  }
  close(out, '}');
  out += '}';
}

}  // namespace

std::string render_metrics_json(std::span<const shard_metrics* const> shards,
                                const metrics_json_context& c) {
  std::string out;
  out.reserve(2048 + shards.size() * 2048);
  out += "{\"server\":{\"version\":\"" SHOAL_VERSION "\",";
  key(out, "time_ms");
  out += std::to_string(c.now_unix_ms);
  out += ',';
  number(out, "uptime_ms", c.uptime_ms);
  number(out, "shards", shards.size());
  key(out, "draining");
  out += c.draining ? "true}," : "false},";

  key(out, "cluster");
  if (c.cluster) {
    out += '{';
    key(out, "node");
    append_json_string(out, c.cluster->node_name());
    out += ',';
    key(out, "link_up");
    out += c.cluster->ready() ? "true," : "false,";
    number(out, "disconnects", c.cluster->disconnects());
    number(out, "slow_consumer_drops", c.cluster->slow_consumer_drops());
    close(out, '}');
  } else {
    out += "null";
  }
  out += ',';

  key(out, "addresses");
  if (c.addresses) {
    out += '{';
    number(out, "tracked", c.addresses->tracked());
    key(out, "refused");
    out += '{';
    for (const address_verdict v : {address_verdict::too_many_connections,
                                    address_verdict::too_many_handshakes, address_verdict::table_full})
      number(out, to_string(v), c.addresses->refused(v));
    close(out, '}');
    out += '}';
  } else {
    out += "null";
  }
  out += ',';

  key(out, "total");
  figures(out, shards);
  out += ',';
  key(out, "shards");
  out += '[';
  for (std::size_t s = 0; s < shards.size(); ++s) {
    if (s != 0) out += ',';
    figures(out, shards.subspan(s, 1));
  }
  out += "]}";
  return out;
}

}  // namespace shoal::gateway
