// The node's link to NATS JetStream (README, "Cluster"): one NATS connection per process, the
// JetStream stream that holds every topic's history, and the road between the NATS client's
// threads and the shards. Shards call it from their own threads (the NATS client is
// thread-safe); what NATS sends back (live copies of stored messages, answers to publishes and
// history reads) arrives on the client's delivery thread and is handed to the shard it is for
// through a lock-free queue (mpsc_queue.hpp) and the mesh's wake-up, so a shard never blocks
// on NATS. A queue holds at most link_queue_bytes; past it the delivery thread waits, the NATS
// client's own pending limit then drops live copies, and the shard repairs the hole from the
// stream (pubsub_cluster.cpp), so memory stays bounded and nothing is lost unannounced.
//
// Start-up never waits for NATS: the connection retries in the background, and a thread of
// its own creates or updates the stream once connected. ready() says both are done; each time
// the link becomes ready again, generation() changes and shards re-check their topics.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/mpsc_queue.hpp"

namespace shoal::gateway {

enum class link_event_kind : std::uint8_t {
  live,   // a live copy of a stored message; key = the watch key given to watch()
  reply,  // an answer to publish() or direct_get(); key = the request number
};

struct link_event {
  std::atomic<link_event*> next{nullptr};
  link_event_kind kind = link_event_kind::live;
  std::uint64_t key = 0;
  natsMsg* msg = nullptr;  // owned; freed with the event
  std::size_t bytes = 0;
};

// Frees an event popped from a shard's queue (and its message).
struct link_event_deleter {
  void operator()(link_event* e) const noexcept;
};
using link_event_ptr = std::unique_ptr<link_event, link_event_deleter>;

// Bytes of events waiting for one shard before the NATS delivery thread waits.
inline constexpr std::size_t link_queue_bytes = 64u << 20;

class cluster_link {
 public:
  // notify(arg, shard) wakes a shard that sleeps (any thread).
  using notify_fn = void (*)(void* arg, unsigned shard);

  cluster_link(const config& cfg, unsigned shards, notify_fn notify, void* arg);
  ~cluster_link();
  cluster_link(const cluster_link&) = delete;
  cluster_link& operator=(const cluster_link&) = delete;

  // Main thread, before the shards start: options, the connection (retried in the background
  // when NATS is not there yet), the shards' reply subscriptions, the stream thread. False with
  // `error` on what cannot work at all (a bad credentials or CA file).
  bool start(std::string& error);
  // Main thread, after the shards stopped: closes the connection and joins the thread.
  void stop();

  // Connected and the stream is set up: publishes and reads may go.
  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }
  // Changes each time the link becomes ready (and after NATS dropped live copies): every
  // topic must be checked against the stream again.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  // The largest message the NATS servers take (0 until connected).
  std::size_t max_payload() const noexcept { return max_payload_.load(std::memory_order_relaxed); }
  const std::string& node_name() const noexcept { return node_name_; }
  const std::string& node_uid() const noexcept { return uid_; }

  // Subjects of a topic.
  std::string stored_subject(std::string_view topic) const;
  std::string live_subject(std::string_view topic) const;

  // ---- On shard `s`'s thread ----
  // Subscribes to the live copies of a topic; they arrive as events with `key`. Null on error.
  natsSubscription* watch(unsigned s, std::string_view topic, std::uint64_t key);
  void unwatch(natsSubscription* sub) noexcept;
  // Where the answer to request `req` of shard `s` must be sent.
  std::string reply_subject(unsigned s, std::uint64_t req) const;
  // Sends a message built by the caller (its reply subject from reply_subject()). False when
  // the link is not ready or the client refused it.
  bool publish(natsMsg* m) noexcept;
  // JetStream's direct get (`{"last_by_subj":..}`, `{"seq":N}`, `{"seq":N,"next_by_subj":..}`).
  bool direct_get(unsigned s, std::uint64_t req, std::string_view request_json) noexcept;
  // Takes the next event for shard s (null when none).
  link_event_ptr pop(unsigned s) noexcept;
  // Shard s: false if an event is queued or being queued (checked after announcing sleep).
  bool idle(unsigned s) const noexcept { return inbox_[s].queue.empty(); }

  // Appends the link's metrics (Prometheus text): shoal_cluster_link_up and its counters.
  void append_metrics(std::string& out) const;
  // Metrics (any thread).
  std::uint64_t slow_consumer_drops() const noexcept { return slow_drops_.load(std::memory_order_relaxed); }
  std::uint64_t disconnects() const noexcept { return disconnects_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) inbox {
    mpsc_queue<link_event> queue;
    std::atomic<std::size_t> bytes{0};
    natsSubscription* replies = nullptr;
    cluster_link* link = nullptr;  // the reply subscription's closure is this inbox
    unsigned shard = 0;
  };

  static void on_live(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  static void on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  static void on_connected(natsConnection*, void* self);
  static void on_disconnected(natsConnection*, void* self);
  static void on_closed(natsConnection*, void* self);
  static void on_error(natsConnection*, natsSubscription*, natsStatus err, void* self);
  void deliver(unsigned s, link_event_kind kind, std::uint64_t key, natsMsg* msg);
  void link_lost();
  void stream_loop();
  bool ensure_stream(std::string& error);

  const config& cfg_;
  unsigned shards_;
  notify_fn notify_;
  void* notify_arg_;
  std::string node_name_;
  std::string uid_;  // random per process: replies to an earlier incarnation never match
  std::string direct_get_subject_;
  std::unique_ptr<inbox[]> inbox_;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::atomic<bool> connected_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> max_payload_{0};
  std::atomic<std::uint64_t> slow_drops_{0};
  std::atomic<std::uint64_t> disconnects_{0};
  std::mutex mu_;  // the stream thread's wake-up, on connection events only (never per message)
  std::condition_variable cv_;
  bool check_stream_ = false;  // under mu_
  std::thread thread_;
};

}  // namespace shoal::gateway
