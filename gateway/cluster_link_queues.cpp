// The queues between the shards and NATS (see cluster_link.hpp): commands the shards queue
// (any shard thread), the writer thread that sends them, and what the NATS client's delivery
// thread hands back to each shard's bounded inbox, taken with pop() on that shard.
#include "gateway/cluster_link.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "gateway/log.hpp"

namespace shoal::gateway {

namespace {

// The closure of a live subscription, freed by the client once the subscription is closed and
// its handler has returned (natsSubscription_SetOnCompleteCB).
struct live_closure {
  cluster_link* link;
  unsigned shard;
  std::uint64_t key;
};

void free_live_closure(void* c) { delete static_cast<live_closure*>(c); }

}  // namespace

// ---- Shard side ---------------------------------------------------------------------------

void cluster_link::watch(unsigned s, std::string_view topic, std::uint64_t key) {
  auto* c = new link_command;
  c->what = link_command::kind::watch;
  c->shard = s;
  c->key = key;
  c->subject = live_subject(topic);
  command(c);
}

void cluster_link::unwatch(unsigned s, std::uint64_t key) {
  auto* c = new link_command;
  c->what = link_command::kind::unwatch;
  c->shard = s;
  c->key = key;
  command(c);
}

bool cluster_link::publish(natsMsg* m) {
  if (!ready()) {
    natsMsg_Destroy(m);
    return false;
  }
  auto* c = new link_command;
  c->what = link_command::kind::publish;
  c->msg = m;
  command(c);
  return true;
}

bool cluster_link::direct_get(unsigned s, std::uint64_t req, std::string_view request_json) {
  if (!connected_.load(std::memory_order_acquire)) return false;
  auto* c = new link_command;
  c->what = link_command::kind::request;
  c->shard = s;
  c->subject = direct_get_subject_;
  c->reply = reply_subject(s, req);
  c->body = std::string(request_json);
  command(c);
  return true;
}

// ---- The writer thread --------------------------------------------------------------------

void cluster_link::command(link_command* c) {
  commands_.push(c);  // seq_cst, then the flag: see writer_loop
  if (writer_sleeping_.load(std::memory_order_seq_cst)) {
    wake_.fetch_add(1, std::memory_order_seq_cst);
    wake_.notify_one();
  }
}

void cluster_link::writer_loop() {
  for (;;) {
    while (link_command* c = commands_.pop()) {
      execute(*c);
      if (c->msg) natsMsg_Destroy(c->msg);
      delete c;
    }
    if (stopping_.load(std::memory_order_acquire)) break;
    // Sleep until a command comes: announce it, then look once more (a command pushed before
    // the announcement is seen here; one pushed after it sees the announcement and wakes us).
    const std::uint32_t seen = wake_.load(std::memory_order_seq_cst);
    writer_sleeping_.store(true, std::memory_order_seq_cst);
    if (commands_.empty() && !stopping_.load(std::memory_order_seq_cst)) wake_.wait(seen, std::memory_order_seq_cst);
    writer_sleeping_.store(false, std::memory_order_relaxed);
  }
  for (auto& [key, sub] : watches_) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
  watches_.clear();
}

void cluster_link::execute(link_command& c) {
  // The client is set to send at once (SendAsap): this thread may wait on the socket, a shard
  // never does.
  switch (c.what) {
    case link_command::kind::publish:
      if (natsConnection_PublishMsg(nc_, c.msg) != NATS_OK) {
        // Not sent (the connection dropped meanwhile): the shard's request times out and its
        // publishes are answered `unavailable`.
      }
      return;
    case link_command::kind::request:
      natsConnection_PublishRequest(nc_, c.subject.c_str(), c.reply.c_str(), c.body.data(),
                                    static_cast<int>(c.body.size()));
      return;
    case link_command::kind::watch: {
      const std::uint64_t id = (std::uint64_t{c.shard} << 48) | c.key;
      if (watches_.count(id)) return;
      natsSubscription* sub = nullptr;
      auto* closure = new live_closure{this, c.shard, c.key};
      if (natsConnection_Subscribe(&sub, nc_, c.subject.c_str(), &on_live, closure) != NATS_OK) {
        delete closure;
        log_line(log_level::warn, "cluster: cannot subscribe to %s: %s", c.subject.c_str(),
                 nats_GetLastError(nullptr));
        return;
      }
      if (natsSubscription_SetOnCompleteCB(sub, &free_live_closure, closure) != NATS_OK)
        log_line(log_level::warn, "cluster: natsSubscription_SetOnCompleteCB failed (a few bytes kept)");
      // Generous: a burst waits here rather than being dropped; past it the stream repairs it.
      natsSubscription_SetPendingLimits(sub, 1 << 20, 256 << 20);
      watches_.emplace(id, sub);
      return;
    }
    case link_command::kind::unwatch: {
      const auto it = watches_.find((std::uint64_t{c.shard} << 48) | c.key);
      if (it == watches_.end()) return;
      natsSubscription_Unsubscribe(it->second);
      natsSubscription_Destroy(it->second);
      watches_.erase(it);
      return;
    }
  }
}

link_event_ptr cluster_link::pop(unsigned s) noexcept {
  link_event* e = inbox_[s].queue.pop();
  if (e) inbox_[s].bytes.fetch_sub(e->bytes, std::memory_order_relaxed);
  return link_event_ptr(e);
}

// ---- Deliveries (the NATS client's delivery thread) ---------------------------------------

void cluster_link::on_live(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  const auto* c = static_cast<const live_closure*>(closure);
  c->link->deliver(c->shard, link_event_kind::live, c->key, msg);
}

void cluster_link::on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  const auto* in = static_cast<const inbox*>(closure);
  const char* subject = natsMsg_GetSubject(msg);
  const char* dot = std::strrchr(subject, '.');
  const std::uint64_t req = dot ? std::strtoull(dot + 1, nullptr, 10) : 0;
  in->link->deliver(in->shard, link_event_kind::reply, req, msg);
}

void cluster_link::deliver(unsigned s, link_event_kind kind, std::uint64_t key, natsMsg* msg) {
  if (s >= shards_) {
    natsMsg_Destroy(msg);
    return;
  }
  inbox& in = inbox_[s];
  // Bounded: wait for the shard to take some (the NATS client queues meanwhile, and past its
  // own limit drops live copies, which the shard then repairs from the stream).
  while (in.bytes.load(std::memory_order_relaxed) > link_queue_bytes && !stopping_.load(std::memory_order_relaxed))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  auto* e = new link_event;
  e->kind = kind;
  e->key = key;
  e->msg = msg;
  e->bytes = sizeof(link_event) + 256 + static_cast<std::size_t>(natsMsg_GetDataLength(msg));
  in.bytes.fetch_add(e->bytes, std::memory_order_relaxed);
  in.queue.push(e);  // seq_cst: see mpsc_queue.hpp and mailbox.hpp
  notify_(notify_arg_, s);
}

}  // namespace shoal::gateway
