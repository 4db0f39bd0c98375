// What the pub/sub hub needs of the connections of its shard, and nothing more: a subscription
// it lists under a topic, and hub_client, the interface through which it hands over deliveries,
// answers and the end of backpressure. A WebSocket session and an HTTP publish implement it;
// the hub's unit tests implement it with a recorder, so the hub is tested without sockets.
// Shard-owned: the hub calls a client only on the shard that owns both.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/local_frame.hpp"
#include "gateway/shard_message.hpp"

namespace shoal::gateway {

struct shard_context;
class hub_client;

// Where a subscription stands. Deliveries go to `held` and `active` subscriptions only.
enum class sub_state : std::uint8_t {
  waiting,  // the home shard has not answered yet
  held,     // answered, but an earlier request of the connection is still unanswered: the
            // answer and the messages after it wait so the client sees answers in order
  active,   // answered and told the client: messages flow
};

// One topic a connection subscribes to. The hub lists it under the topic (at `index`), and the
// topic's name is the hub's copy, held once per topic and shard rather than per subscriber.
struct subscription {
  const std::string* name = nullptr;   // set by pubsub_hub::subscribe; null once unlisted
  hub_client* client = nullptr;
  subscription* next = nullptr;        // the owner's list of its subscriptions
  std::uint64_t from_seq = 0;          // deliveries with seq > from_seq are for this subscriber
  std::uint32_t index = 0;             // position in the hub's list for the topic
  sub_state state = sub_state::waiting;
  bool compressed = false;             // takes the broadcast's shared compressed variant
  bool backlogged = false;             // its owner holds something back for it (the session's
                                       // slow-consumer state, kept by the session, not here)

  std::string_view topic() const noexcept { return *name; }
};

class hub_client {
 public:
  // A broadcast frame for `sub` (state held or active), in sequence order.
  virtual void deliver(shard_context& ctx, subscription& sub, local_frame* frame) = 0;
  // Messages of `sub`'s topic this shard will never have (should not happen: kept as a
  // safety net so that a loss is announced, never silent).
  virtual void missed(shard_context& ctx, subscription& sub, std::uint64_t from, std::uint64_t to) = 0;
  // The home shard's answer to a publish (job->seq, or job->refused).
  virtual void published(shard_context& ctx, std::unique_ptr<publish_job> job) = 0;
  // The home shard's answer to a subscribe (job->ticket says which); owed even if the client
  // left the topic meanwhile.
  virtual void subscribed(shard_context& ctx, std::unique_ptr<subscribe_job> job) = 0;
  // The queues that held this client's input back are below their bound again.
  virtual void resume_input(shard_context& ctx) = 0;

 protected:
  ~hub_client() = default;
};

}  // namespace shoal::gateway
