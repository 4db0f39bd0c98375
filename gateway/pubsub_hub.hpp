// The pub/sub engine of one shard. Every topic has a home shard (a hash of its name): the home
// assigns each published message its sequence number, encodes the delivery frame once, keeps
// the topic's recent history in a ring, and sends one reference to every shard with subscribers
// through the mailbox mesh. Each shard then hands that one frame to its local subscribers by
// shard-local reference. Ordering: the home is the single writer of a topic's sequence, and each
// home→shard mailbox is FIFO, so every subscriber on every shard sees one total order per topic;
// a subscribe is answered through the same FIFO, so its "seq" splits what it gets from what it
// missed exactly. When a mailbox is full the home skips that shard (publishers never block) and
// the shard, seeing the jump in sequence numbers, sends gap notices. Shard-owned.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/local_frame.hpp"
#include "gateway/mailbox.hpp"
#include "gateway/pubsub_protocol.hpp"
#include "gateway/pubsub_session.hpp"
#include "gateway/shard_message.hpp"

namespace shoal::gateway {

using shard_mesh = mailbox_mesh<shard_message>;

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class pubsub_hub {
 public:
  // Finds a live connection of this shard by token (null if it closed meanwhile).
  using lookup_fn = connection* (*)(void* arg, std::uint64_t token);

  pubsub_hub(unsigned self, unsigned shards, const config& cfg, shard_mesh& mesh);
  ~pubsub_hub();
  pubsub_hub(const pubsub_hub&) = delete;
  pubsub_hub& operator=(const pubsub_hub&) = delete;

  void set_lookup(lookup_fn fn, void* arg) noexcept { lookup_ = fn; lookup_arg_ = arg; }
  local_frame_pool& pool() noexcept { return pool_; }
  command_parser& parser() noexcept { return parser_; }

  // Session side. `sub` is owned by the session; it is listed under its topic until unsubscribe.
  void subscribe(shard_context& ctx, subscription& sub, std::optional<std::uint64_t> since,
                 std::string_view id);
  void unsubscribe(shard_context& ctx, subscription& sub);
  // Removes `sub` from this shard's list for its topic, without telling the home shard (the
  // home refused the subscription, so it never counted it).
  void unlist(subscription& sub);
  void publish(shard_context& ctx, std::uint64_t conn_token, std::string_view topic,
               std::string_view data, std::string_view id, bool from_http);

  // Loop side: drain the mailbox, retry what did not fit, forget idle topics.
  void poll(shard_context& ctx);
  void sweep(std::uint64_t now);
  // True while messages wait in the outbox for ring space: the shard must not sleep then.
  bool has_pending() const noexcept {
    for (const auto& box : outbox_)
      if (!box.empty()) return true;
    return false;
  }
  // Frees everything still queued (shutdown, after every shard stopped).
  void discard_pending();

 private:
  struct home_topic {
    std::uint64_t last_seq = 0;
    std::uint64_t first_seq = 1;        // oldest sequence number held (last_seq + 1: none)
    std::vector<shared_frame*> ring;    // grows to ring_size; message seq at (seq - 1) & mask
    std::vector<std::uint32_t> interest;  // subscriptions per shard
    std::uint32_t interested = 0;          // sum of interest
    // Subscriptions (all shards) whose connections take the compressed variant: while there are
    // any, each message is compressed once, here, beside its plain frame.
    std::uint32_t compressed_interest = 0;
    std::uint64_t last_used = 0;           // tick
  };
  struct local_topic {
    std::vector<subscription*> subs;
    std::uint64_t last_seq = 0;  // last sequence seen on this shard
    bool synced = false;
  };

  unsigned home_of(std::string_view topic) const noexcept;
  void send(shard_context& ctx, unsigned to, shard_message m, bool droppable);
  void dispatch(shard_context& ctx, shard_message m);
  void home_publish(shard_context& ctx, publish_job* job);
  void home_subscribe(shard_context& ctx, subscribe_job* job);
  void home_unsubscribe(unsubscribe_job* job);
  void on_deliver(shard_context& ctx, shared_frame* frame);
  void on_publish_done(shard_context& ctx, publish_job* job);
  void on_subscribe_done(shard_context& ctx, subscribe_job* job);
  shared_frame* encode_delivery(shard_context& ctx, std::string_view topic, std::uint64_t seq,
                                std::string_view data, bool compress);
  // The topic, created if new and the shard holds fewer than its share of pubsub.max_topics.
  home_topic* home_topic_for(const std::string& name);
  void remember(home_topic& t, shared_frame* f);
  void forget_oldest(home_topic& t);
  void forget_all(home_topic& t);
  void refuse_publish(shard_context& ctx, publish_job* job);

  unsigned self_;
  unsigned shards_;
  const config& cfg_;
  shard_mesh& mesh_;
  local_frame_pool pool_;
  command_parser parser_;
  lookup_fn lookup_ = nullptr;
  void* lookup_arg_ = nullptr;
  std::uint64_t now_ = 0;
  std::unordered_map<std::string, home_topic, string_hash, std::equal_to<>> home_;
  std::unordered_map<std::string, local_topic, string_hash, std::equal_to<>> local_;
  std::vector<std::deque<shard_message>> outbox_;  // per destination: waiting for ring space
  std::size_t max_home_topics_;    // this shard's share of pubsub.max_topics
  std::uint64_t history_budget_;   // this shard's share of pubsub.history_bytes
  std::uint64_t history_bytes_ = 0;  // bytes of the frames held in home rings
  std::string scratch_;
};

}  // namespace shoal::gateway
