// Tests for GET /metrics.json's document (gateway/metrics_json.hpp): valid JSON (parsed back by
// simdjson), every figure of metric_defs() per shard and summed, the queue bound not summed,
// closes by code and auth refusals by reason, the server block, and null cluster/addresses on a
// single node without per-address limits. Single-threaded.
#include "gateway/metrics_json.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

namespace shoal::gateway {
namespace {

TEST(MetricsJson, PerShardAndSummedFigures) {
  shard_metrics a, b;
  shard_metrics::add(a.messages_in, 7);
  shard_metrics::add(b.messages_in, 5);
  shard_metrics::add(b.deliveries, 11);
  shard_metrics::set(a.buffered_bytes, 100);
  shard_metrics::set(b.buffered_bytes, 23);
  shard_metrics::set(a.queue_limit_bytes, 4096);
  shard_metrics::set(b.queue_limit_bytes, 4096);
  a.count_close(1000);
  b.count_close(1000);
  b.count_close(1001);
  b.count_close(4001);  // the slot for every other code
  shard_metrics::add(a.auth_refused[0], 2);
  const std::vector<const shard_metrics*> shards{&a, &b};
  metrics_json_context c;
  c.now_unix_ms = 1'700'000'000'123;
  c.uptime_ms = 4567;
  const std::string text = render_metrics_json(shards, c);

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(doc["server"]["time_ms"].get_int64().value(), 1'700'000'000'123);
  EXPECT_EQ(doc["server"]["uptime_ms"].get_uint64().value(), 4567u);
  EXPECT_EQ(doc["server"]["shards"].get_uint64().value(), 2u);
  EXPECT_FALSE(doc["server"]["draining"].get_bool().value());
  EXPECT_TRUE(doc["cluster"].is_null());
  EXPECT_TRUE(doc["addresses"].is_null());

  const auto total = doc["total"];
  EXPECT_EQ(total["messages_in"].get_uint64().value(), 12u);
  EXPECT_EQ(total["deliveries"].get_uint64().value(), 11u);
  EXPECT_EQ(total["buffered_bytes"].get_uint64().value(), 123u);
  EXPECT_EQ(total["shard_queue_limit_bytes"].get_uint64().value(), 4096u);  // a setting, not a sum
  EXPECT_EQ(total["closes"]["1000"].get_uint64().value(), 2u);
  EXPECT_EQ(total["closes"]["1001"].get_uint64().value(), 1u);
  EXPECT_EQ(total["closes"]["other"].get_uint64().value(), 1u);
  EXPECT_EQ(total["auth_refused"]["missing_token"].get_uint64().value(), 2u);

  simdjson::dom::array per_shard;
  ASSERT_EQ(doc["shards"].get_array().get(per_shard), simdjson::SUCCESS);
  ASSERT_EQ(per_shard.size(), 2u);
  EXPECT_EQ(per_shard.at(0)["messages_in"].get_uint64().value(), 7u);
  EXPECT_EQ(per_shard.at(1)["messages_in"].get_uint64().value(), 5u);
  EXPECT_EQ(per_shard.at(0)["closes"]["1000"].get_uint64().value(), 1u);
  EXPECT_TRUE(per_shard.at(0)["closes"]["1001"].error());  // only codes that were sent
  EXPECT_EQ(per_shard.at(1)["auth_refused"].get_object().value().size(), 0u);
  // Every plain figure appears, under its Prometheus name without shoal_ and _total.
  for (const metric_def& d : metric_defs()) {
    std::string name = d.name;
    name = name.substr(6);
    if (name.ends_with("_total")) name.resize(name.size() - 6);
    EXPECT_FALSE(total[name].error()) << name;
    EXPECT_FALSE(per_shard.at(1)[name].error()) << name;
  }
}

TEST(MetricsJson, NoShardsStillValid) {
  metrics_json_context c;
  c.draining = true;
  const std::string text = render_metrics_json({}, c);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_TRUE(doc["server"]["draining"].get_bool().value());
  EXPECT_EQ(doc["shards"].get_array().value().size(), 0u);
}

}  // namespace
}  // namespace shoal::gateway
