// The pub/sub side of one /ws connection (subprotocol shoal.v1): its subscriptions, the
// slow-consumer policy applied to each delivery, and the client commands it turns into calls on
// the shard's pubsub_hub. Owned by its connection; shard-owned like it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/local_frame.hpp"
#include "gateway/pubsub_protocol.hpp"
#include "gateway/shard_context.hpp"

namespace shoal::gateway {

class connection;
class pubsub_hub;

// One topic a connection subscribes to. The hub lists it under the topic (at `index`).
struct subscription {
  std::string topic;
  connection* conn = nullptr;
  std::uint64_t from_seq = 0;     // deliveries with seq > from_seq are for this subscriber
  std::uint64_t gap_from = 0;     // dropped (not yet reported) range; 0 = none
  std::uint64_t gap_to = 0;
  local_frame* conflated = nullptr;  // conflate policy: the newest message held back
  std::uint32_t index = 0;        // position in the hub's list for the topic
  std::uint32_t id : 31 = 0;      // unique among the session's recent subscriptions: matches
                                  // the home's answer
  bool active : 1 = false;        // the home shard has answered the subscribe
};

class pubsub_session {
 public:
  explicit pubsub_session(connection& conn) : conn_(conn) {}
  ~pubsub_session();
  pubsub_session(const pubsub_session&) = delete;
  pubsub_session& operator=(const pubsub_session&) = delete;

  // A complete text message from the client.
  void on_text(shard_context& ctx, std::string_view text);
  // Called by the hub for each broadcast frame of a subscribed topic, in sequence order.
  void deliver(shard_context& ctx, subscription& sub, local_frame* frame);
  // Called by the hub when this shard missed messages of a topic (its mailbox overflowed).
  void missed(shard_context& ctx, subscription& sub, std::uint64_t from, std::uint64_t to);
  // Called when the connection's buffered bytes fell below the slow-consumer limit: sends the
  // gap notices and conflated messages held back.
  void on_drained(shard_context& ctx);
  bool has_held_back() const noexcept { return held_back_ != 0; }
  // The connection is closing: leave every topic.
  void leave_all(shard_context& ctx);

  subscription* find(std::string_view topic) noexcept;
  // The home shard refused `sub` (the server holds pubsub.max_topics topics): tell the client
  // and forget it.
  void refused(shard_context& ctx, subscription* sub, std::string_view id);

 private:
  void send_error(shard_context& ctx, protocol_error_code code, std::string_view message,
                  std::string_view id, std::string_view topic = {});
  [[gnu::noinline]] void over_limit(shard_context& ctx, subscription& sub, local_frame* frame);
  [[gnu::noinline]] void catch_up(shard_context& ctx, subscription& sub);
  void hold_gap(subscription& sub, std::uint64_t from, std::uint64_t to);
  // Sends the gap notice held for `sub`, if any.
  void send_gap(shard_context& ctx, subscription& sub);
  // Unsubscribes from the hub, drops what was held back, and forgets the subscription.
  void leave(shard_context& ctx, subscription* sub);

  connection& conn_;
  std::vector<std::unique_ptr<subscription>> subs_;
  std::uint32_t held_back_ = 0;    // subscriptions with a pending gap notice or conflated frame
  std::uint32_t next_sub_id_ = 1;
};

}  // namespace shoal::gateway
