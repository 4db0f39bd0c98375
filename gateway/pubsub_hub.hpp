// The pub/sub engine of one shard. Every topic has a home shard (a hash of its name): the home
// assigns each published message its sequence number, encodes the delivery frame once, keeps
// the topic's recent history, and sends one reference to every shard with subscribers through
// the mailbox mesh. Each shard then hands that one frame to its local subscribers by
// shard-local reference. Shard-owned; it reaches connections only through hub_client.
//
// Ordering. The home is the single writer of a topic's sequence, and each home→shard reply
// lane is FIFO (ring, then the overflow queue behind it), so every subscriber on every shard
// sees one total order per topic; a subscribe is answered through the same lane, so its "seq"
// splits what it gets from what it missed exactly.
//
// No loss. No internal queue drops anything: what does not fit a ring waits, in order, in the
// sender's overflow queue. Every queue is bounded in bytes instead (pubsub.queue_bytes per
// pair of shards and lane): a publisher whose request lane to the home is over the bound, or
// whose home's reply lanes are, is held (the connection stops reading, TCP slows the peer; an
// HTTP publish gets 503), and a home over the bound stops taking requests until its receivers
// catch up. Receivers always drain their reply lanes, so this cannot deadlock. Loss remains
// only per subscriber, by its own slow-consumer policy, and is announced there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/hub_client.hpp"
#include "gateway/local_frame.hpp"
#include "gateway/mailbox.hpp"
#include "gateway/pubsub_protocol.hpp"
#include "gateway/ring_queue.hpp"
#include "gateway/shard_context.hpp"
#include "gateway/shard_id.hpp"
#include "gateway/shard_message.hpp"

namespace shoal::gateway {

using shard_mesh = mailbox_mesh<shard_message, lane_count>;

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// What publish() did with a publish.
enum class admission : std::uint8_t {
  accepted,  // queued toward its home
  hold,      // queued, and the queues are over their bound: stop reading from this client
             // until its resume_input()
  full,      // not queued (refuse_when_full): the queues are over their bound; retry later
};

// A publish as the hub takes it from a client.
struct publish_args {
  std::uint64_t conn_token = 0;
  std::uint64_t ticket = 0;
  std::string_view topic;
  std::string_view data;
  std::string_view id;
  bool from_http = false;
};

// The queue bound (pubsub.queue_bytes, 0 = derived from memory) as a shard applies it.
std::uint64_t effective_queue_bytes(const config& cfg, unsigned shards) noexcept;

class pubsub_hub {
 public:
  // Finds a live client of this shard by connection token (null if it closed meanwhile).
  using lookup_fn = hub_client* (*)(void* arg, std::uint64_t token);

  pubsub_hub(shard_id self, unsigned shards, const config& cfg, shard_mesh& mesh);
  ~pubsub_hub();
  pubsub_hub(const pubsub_hub&) = delete;
  pubsub_hub& operator=(const pubsub_hub&) = delete;

  void set_lookup(lookup_fn fn, void* arg) noexcept { lookup_ = fn; lookup_arg_ = arg; }
  local_frame_pool& pool() noexcept { return pool_; }
  command_parser& parser() noexcept { return parser_; }
  std::uint64_t queue_bytes() const noexcept { return queue_bytes_; }

  // Session side. `sub` (topic, client, conn_token, compressed set) is owned by the session; it
  // is listed under its topic until unsubscribe or unlist. The answer comes through
  // sub.client->subscribed() with `ticket`, possibly before this returns (topic homed here).
  void subscribe(shard_context& ctx, subscription& sub, std::optional<std::uint64_t> since,
                 std::string_view id, std::uint64_t ticket);
  void unsubscribe(shard_context& ctx, subscription& sub);
  // Removes `sub` from this shard's list for its topic, without telling the home shard (the
  // home refused the subscription, so it never counted it).
  void unlist(subscription& sub);
  // The answer comes through the client's published(), possibly before this returns.
  admission publish(shard_context& ctx, const publish_args& p, bool refuse_when_full);

  // Loop side: move waiting messages into rings, drain the reply lanes, take requests while
  // under the bound, resume held publishers whose queues have room again.
  void poll(shard_context& ctx);
  void sweep(std::uint64_t now);
  // Before the loop blocks: true when nothing is left that poll() could do now, having
  // announced sleep to the mesh (woken by a message, or by room in a ring this shard waits
  // on); false (sleep withdrawn) when the loop should poll again instead.
  bool prepare_to_sleep();
  // Bytes queued toward other shards (rings and overflow, both lanes), for the gauge.
  std::uint64_t queued_bytes() const noexcept;
  // Frees everything still queued (shutdown, after every shard stopped).
  void discard_pending();

 private:
  struct home_topic {
    std::uint64_t last_seq = 0;
    std::uint64_t first_seq = 1;        // oldest sequence number held (last_seq + 1: none)
    std::vector<frame_ref> ring;        // grows to ring_size; message seq at (seq - 1) & mask
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
  // Messages waiting for room in one ring, in order, and the bytes they hold.
  struct overflow {
    ring_queue<shard_message> queue;
    std::uint64_t bytes = 0;
  };

  shard_id home_of(std::string_view topic) const noexcept;
  static shard_id shard_at(unsigned i) noexcept { return shard_id(static_cast<std::uint16_t>(i)); }
  overflow& overflow_of(shard_id to, unsigned l) noexcept { return overflow_[index_of(to) * lane_count + l]; }
  const overflow& overflow_of(shard_id to, unsigned l) const noexcept {
    return overflow_[index_of(to) * lane_count + l];
  }
  void send(shard_context& ctx, shard_id to, shard_message m);
  void dispatch(shard_context& ctx, shard_message& m);
  void flush_overflow();
  // Bytes queued from this shard toward `to` on `l` (ring and overflow).
  std::uint64_t pair_bytes(shard_id to, lane l) const noexcept;
  bool over_bound(shard_id to, lane l) const noexcept;
  // True while any reply lane of this shard is over the bound: take no requests.
  bool congested() const noexcept;
  // The condition a publisher held on `home` waits for.
  bool may_resume(shard_id home) const noexcept;
  void hold(std::uint64_t conn_token, shard_id home);
  void resume_waiters(shard_context& ctx);
  void home_publish(shard_context& ctx, std::unique_ptr<publish_job> job);
  void home_subscribe(shard_context& ctx, std::unique_ptr<subscribe_job> job);
  void home_unsubscribe(const unsubscribe_job& job);
  void on_deliver(shard_context& ctx, frame_ref frame);
  void on_publish_done(shard_context& ctx, std::unique_ptr<publish_job> job);
  void on_subscribe_done(shard_context& ctx, std::unique_ptr<subscribe_job> job);
  frame_ref encode_delivery(shard_context& ctx, std::string_view topic, std::uint64_t seq,
                            std::string_view data, bool compress);
  // The topic, created if new and the shard holds fewer than its share of pubsub.max_topics.
  home_topic* home_topic_for(const std::string& name);
  void remember(home_topic& t, frame_ref f);
  void forget_oldest(home_topic& t);
  void forget_all(home_topic& t);

  shard_id self_;
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
  std::vector<overflow> overflow_;  // overflow_of(to, lane)
  std::vector<std::vector<std::uint64_t>> waiting_;  // [index_of(home)]: held publishers' tokens
  std::size_t waiting_count_ = 0;
  std::size_t overflowing_ = 0;    // overflow queues that hold something
  std::uint64_t gauge_tick_ = 0;   // when the queued-bytes gauge was last set
  std::size_t max_home_topics_;    // this shard's share of pubsub.max_topics
  std::uint64_t history_budget_;   // this shard's share of pubsub.history_bytes
  std::uint64_t history_bytes_ = 0;  // bytes of the frames held in home rings
  std::uint64_t queue_bytes_;      // the bound per pair of shards and lane
  std::string scratch_;
};

}  // namespace shoal::gateway
