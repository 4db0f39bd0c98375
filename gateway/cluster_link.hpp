// The node's link to NATS JetStream (README, "Cluster"): one NATS connection per process, the
// JetStream stream that holds every topic's history, and the road between the shards and the
// NATS client's threads, both ways through lock-free queues (mpsc_queue.hpp), so a shard never
// calls into the NATS client, takes its lock or blocks on its socket. Outgoing: shards queue
// commands (publish a record, read one, watch or unwatch a topic's live copies) for the link's
// writer thread, which sends each at once (the client's own flusher would wait 1 ms to gather
// more: measured, it doubled the publish-to-delivery time at low rates); one queue, so a shard's
// commands reach NATS in the order it gave them. Incoming: what NATS sends back (live copies of
// stored messages, answers to publishes and reads) arrives on the client's delivery thread and
// is handed to the shard it is for, with the mesh's wake-up. A queue holds at most link_queue_bytes; past it the delivery thread waits, the NATS
// client's own pending limit then drops live copies, and the shard repairs the hole from the
// stream (pubsub_cluster_receive.cpp), so memory stays bounded and nothing is lost unannounced.
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
#include <unordered_map>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/mpsc_queue.hpp"

namespace shoal::gateway {

enum class link_event_kind : std::uint8_t {
  live,   // a live copy of a stored message; key = the watch key given to watch()
  reply,  // an answer to publish() or direct_get(); key = the request number
};

// A command from a shard to the writer thread.
struct link_command {
  enum class kind : std::uint8_t { publish, request, watch, unwatch };
  std::atomic<link_command*> next{nullptr};
  kind what = kind::publish;
  unsigned shard = 0;
  std::uint64_t key = 0;  // watch, unwatch: the watch key
  natsMsg* msg = nullptr; // publish: owned
  std::string subject;    // request, watch
  std::string reply;      // request
  std::string body;       // request
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

  // ---- On shard `s`'s thread (each queues a command for the writer thread) ----
  // Subscribes to the live copies of a topic; they arrive as events with `key` (unique per
  // shard). Before any command the shard queues after it.
  void watch(unsigned s, std::string_view topic, std::uint64_t key);
  void unwatch(unsigned s, std::uint64_t key);
  // Where the answer to request `req` of shard `s` must be sent.
  std::string reply_subject(unsigned s, std::uint64_t req) const;
  // Sends a message built by the caller (its reply subject from reply_subject()); takes it.
  // False (and frees it) when the link is not ready.
  bool publish(natsMsg* m);
  // JetStream's direct get (`{"last_by_subj":..}`, `{"seq":N}`, `{"seq":N,"next_by_subj":..}`).
  // False when the link is not connected.
  bool direct_get(unsigned s, std::uint64_t req, std::string_view request_json);
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
  void command(link_command* c);
  void writer_loop();
  void execute(link_command& c);

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
  // The writer thread and its queue; it sleeps on wake_ (a futex) while writer_sleeping_.
  mpsc_queue<link_command> commands_;
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<bool> writer_sleeping_{false};
  std::unordered_map<std::uint64_t, natsSubscription*> watches_;  // writer thread only
  std::thread writer_;
};

}  // namespace shoal::gateway
