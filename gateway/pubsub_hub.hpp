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
//
// Cluster (pubsub_cluster.cpp, README "Cluster"). With a cluster_link, the home shard no longer
// numbers a topic's messages itself: it stores them in JetStream, fenced on the topic's last
// record, and takes the sequence numbers JetStream confirmed; every node's home shard of the
// topic then receives the stored records (live copies, checked link by link against the chain
// of records, holes fetched from the stream) and fans them out exactly as above. A resume
// beyond what this node holds reads the stream.
#pragma once

#include <cstdint>
#include <memory>
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

// A subscribe as the hub takes it from a client.
struct subscribe_args {
  std::uint64_t conn_token = 0;
  std::uint64_t ticket = 0;
  std::string_view topic;
  std::string_view id;
  std::optional<std::uint64_t> since;  // resume after this sequence number
};

// The queue bound (pubsub.queue_bytes, 0 = derived from memory) as a shard applies it.
std::uint64_t effective_queue_bytes(const config& cfg, unsigned shards) noexcept;

class cluster_link;
struct cluster_record;
struct link_event;
struct link_event_deleter;

class pubsub_hub {
 public:
  // Finds a live client of this shard by connection token (null if it closed meanwhile).
  using lookup_fn = hub_client* (*)(void* arg, std::uint64_t token);

  // `link`: the node's cluster link, or null for a single node.
  pubsub_hub(shard_id self, unsigned shards, const config& cfg, shard_mesh& mesh, cluster_link* link = nullptr);
  ~pubsub_hub();
  pubsub_hub(const pubsub_hub&) = delete;
  pubsub_hub& operator=(const pubsub_hub&) = delete;

  void set_lookup(lookup_fn fn, void* arg) noexcept { lookup_ = fn; lookup_arg_ = arg; }
  local_frame_pool& pool() noexcept { return pool_; }
  command_parser& parser() noexcept { return parser_; }
  std::uint64_t queue_bytes() const noexcept { return queue_bytes_; }

  // Session side. `sub` (client and compressed set) is owned by the session; it is listed under
  // a.topic, whose name it then shares, until unsubscribe or unlist. The answer comes through
  // sub.client->subscribed() with a.ticket, possibly before this returns (topic homed here).
  void subscribe(shard_context& ctx, subscription& sub, const subscribe_args& a);
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
  struct cluster_topic;  // pubsub_cluster.cpp
  struct cluster_request;
  struct walk;
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
    std::unique_ptr<cluster_topic> cl;     // cluster state; null on a single node
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
  void on_gap(shard_context& ctx, const gap_job& gap);
  // Home side, a message numbered `seq` (by this shard, or by the cluster): encoded once, sent to
  // every shard with subscribers, kept in the history.
  void broadcast(shard_context& ctx, home_topic& t, std::string_view topic, std::uint64_t seq,
                 std::string_view data);
  // The subscribe answer, with `fetched` (frames since+1.. read from the cluster) before what
  // the history holds.
  // `oldest`, when not 0, is the oldest message the stream could give (for too_old).
  void answer_subscribe(shard_context& ctx, home_topic& t, std::unique_ptr<subscribe_job> job,
                        std::vector<frame_ref> fetched = {}, std::uint64_t oldest = 0);
  // ---- Cluster (pubsub_cluster*.cpp) ----
  // True when the subscribe can be answered now; else the job waits (moved from) for the topic
  // to be in step with the stream, or for a read of its history.
  bool cluster_subscribe(shard_context& ctx, const std::string& name, home_topic& t,
                         std::unique_ptr<subscribe_job>& job);
  void cluster_publish(shard_context& ctx, const std::string& name, home_topic& t, std::unique_ptr<publish_job> job);
  void cluster_poll(shard_context& ctx);
  void cluster_timeouts(shard_context& ctx);
  bool cluster_idle() const noexcept;
  bool cluster_busy(const home_topic& t) const noexcept;  // sweep must keep it
  void cluster_forget(home_topic& t);                       // sweep erases it
  void cluster_pump(shard_context& ctx, const std::string& name, home_topic& t);
  void cluster_fail_sending(shard_context& ctx, home_topic& t, const char* why);
  void cluster_fail_waiting(shard_context& ctx, home_topic& t, const char* why);
  void cluster_refuse(shard_context& ctx, std::unique_ptr<publish_job> job, protocol_error_code code,
                      const char* why);
  void cluster_sync(shard_context& ctx, const std::string& name, home_topic& t);
  void cluster_on_live(shard_context& ctx, std::unique_ptr<link_event, link_event_deleter> e);
  void cluster_on_reply(shard_context& ctx, std::unique_ptr<link_event, link_event_deleter> e);
  void cluster_on_synced(shard_context& ctx, const std::string& name, home_topic& t, const cluster_record* last);
  void cluster_accept(shard_context& ctx, const std::string& name, home_topic& t,
                      std::unique_ptr<link_event, link_event_deleter> e, const cluster_record& r);
  void cluster_deliver(shard_context& ctx, const std::string& name, home_topic& t, const cluster_record& r,
                       std::string_view body);
  // Announces t.last_seq+1 .. next-1 as lost and restarts the history at `next`.
  void cluster_gap(shard_context& ctx, const std::string& name, home_topic& t, std::uint64_t next);
  void cluster_release_held(shard_context& ctx, const std::string& name, home_topic& t);
  void cluster_release_parked(shard_context& ctx, const std::string& name, home_topic& t);
  void cluster_walk_step(shard_context& ctx, std::unique_ptr<walk> w);
  void cluster_walk_done(shard_context& ctx, std::unique_ptr<walk> w, bool evicted);
  void cluster_walk_failed(shard_context& ctx, std::unique_ptr<walk> w);
  std::uint64_t track(std::unique_ptr<cluster_request> r);  // a request id, its deadline set
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
  // Cluster state (null link_: a single node).
  cluster_link* link_;
  std::uint64_t link_generation_ = 0;  // the link generation the topics were checked against
  std::uint64_t next_request_ = 1;
  std::uint64_t next_watch_key_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<cluster_request>> requests_;
  std::unordered_map<std::uint64_t, std::string> watches_;  // watch key -> topic
  std::uint64_t publish_backlog_ = 0;  // bytes of publishes waiting for JetStream here
  std::uint64_t timeout_tick_ = 0;     // when requests were last checked for their deadline
  std::vector<std::string> resync_;    // topics to check against the stream again (retries)
  std::string record_body_;            // reused: the body of the record being published
  std::vector<std::string_view> parts_;  // reused: the messages of a record being read
};

}  // namespace shoal::gateway
