// The pub/sub engine's traffic between shards (see pubsub_hub.hpp, "No loss", and mailbox.hpp):
// sending through the mesh with a per-pair overflow queue, the byte bounds that hold publishers,
// one poll of the mesh per loop pass, and what to wait for before the shard sleeps. Shard-owned.
#include "gateway/pubsub_hub.hpp"

#include <atomic>

namespace shoal::gateway {

namespace {
template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;  // clang 14 does not deduce aggregate bases by itself
}  // namespace

// ---- Queues between shards ----------------------------------------------------------------

void pubsub_hub::send(shard_context& ctx, shard_id to, shard_message m) {
  if (to == self_) {
    dispatch(ctx, m);
    return;
  }
  // FIFO per destination and lane: while older messages wait in the overflow queue, newer ones
  // queue behind them. Nothing is dropped; the byte bound acts on the publishers instead.
  const lane l = lane_of(m);
  overflow& o = overflow_of(to, static_cast<unsigned>(l));
  if (o.queue.empty()) {
    if (mesh_.send(self_, to, std::move(m), static_cast<unsigned>(l))) return;
    ++overflowing_;
  }
  o.bytes += weight(m);
  o.queue.push_back(std::move(m));
}

void pubsub_hub::flush_overflow() {
  for (unsigned i = 0; i < shards_ && overflowing_ != 0; ++i) {
    const shard_id to = shard_at(i);
    for (unsigned l = 0; l < lane_count; ++l) {
      overflow& o = overflow_of(to, l);
      while (!o.queue.empty()) {
        const std::size_t w = weight(o.queue.front());
        if (!mesh_.send(self_, to, std::move(o.queue.front()), l)) break;
        o.bytes -= w;
        o.queue.pop_front();
        if (o.queue.empty()) --overflowing_;
      }
    }
  }
}

std::uint64_t pubsub_hub::pair_bytes(shard_id to, lane l) const noexcept {
  const unsigned li = static_cast<unsigned>(l);
  return mesh_.in_flight(self_, to, li) + overflow_of(to, li).bytes;
}

bool pubsub_hub::over_bound(shard_id to, lane l) const noexcept {
  // Usually decided without touching the receiver's counter: below the bound even if the
  // receiver took nothing since it was last read.
  const unsigned li = static_cast<unsigned>(l);
  if (mesh_.in_flight_at_most(self_, to, li) + overflow_of(to, li).bytes <= queue_bytes_) return false;
  return pair_bytes(to, l) > queue_bytes_;
}

bool pubsub_hub::congested() const noexcept {
  // Publishes waiting here for JetStream count like a queue toward another shard.
  if (publish_backlog_ > queue_bytes_) return true;
  for (unsigned i = 0; i < shards_; ++i)
    if (shard_at(i) != self_ && over_bound(shard_at(i), lane::reply)) return true;
  return false;
}

bool pubsub_hub::may_resume(shard_id home) const noexcept {
  return home == self_ ? !congested() : !over_bound(home, lane::request);
}

std::uint64_t pubsub_hub::queued_bytes() const noexcept {
  std::uint64_t n = 0;
  for (unsigned i = 0; i < shards_; ++i)
    if (shard_at(i) != self_) n += pair_bytes(shard_at(i), lane::request) + pair_bytes(shard_at(i), lane::reply);
  return n;
}

void pubsub_hub::hold(std::uint64_t conn_token, shard_id home) {
  waiting_[index_of(home)].push_back(conn_token);
  ++waiting_count_;
}

void pubsub_hub::resume_waiters(shard_context& ctx) {
  for (unsigned i = 0; i < shards_ && waiting_count_ != 0; ++i) {
    if (waiting_[i].empty() || !may_resume(shard_at(i))) continue;
    std::vector<std::uint64_t> tokens;
    tokens.swap(waiting_[i]);  // a resumed client may publish, and be held, again
    waiting_count_ -= tokens.size();
    for (const std::uint64_t token : tokens)
      if (hub_client* c = lookup_ ? lookup_(lookup_arg_, token) : nullptr) c->resume_input(ctx);
  }
}

void pubsub_hub::poll(shard_context& ctx) {
  now_ = ctx.now;
  flush_overflow();
  // Replies first and always: deliveries only go to local queues, so draining them never waits.
  mesh_.receive_lane(self_, static_cast<unsigned>(lane::reply),
                     [&](shard_id, shard_message&& m) { dispatch(ctx, m); });
  // Requests only while this shard's own reply lanes are under the bound: a request left in its
  // ring holds its sender's lane over the bound in turn, and so its publishers.
  mesh_.receive_while(self_, static_cast<unsigned>(lane::request), [&](shard_id, shard_message& m) {
    if (congested()) return false;
    dispatch(ctx, m);
    return true;
  });
  if (link_) cluster_poll(ctx);
  if (waiting_count_ != 0) resume_waiters(ctx);
  if (ctx.now != gauge_tick_) {  // a gauge: once a tick is enough, and spares the counters' lines
    gauge_tick_ = ctx.now;
    shard_metrics::set(ctx.metrics.queued_bytes, queued_bytes());
  }
}

bool pubsub_hub::prepare_to_sleep() {
  // Ask to be woken by the receivers this shard waits on (see mailbox.hpp, "wait for room").
  const bool jammed = congested();
  if (jammed)
    for (unsigned i = 0; i < shards_; ++i)
      if (shard_at(i) != self_ && over_bound(shard_at(i), lane::reply))
        mesh_.wait_for_room(self_, shard_at(i), static_cast<unsigned>(lane::reply));
  for (unsigned i = 0; i < shards_; ++i)
    if (shard_at(i) != self_ && !waiting_[i].empty())
      mesh_.wait_for_room(self_, shard_at(i), static_cast<unsigned>(lane::request));
  mesh_.announce_sleep(self_);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  bool work = mesh_.has_mail(self_, static_cast<unsigned>(lane::reply)) ||
              (!jammed && mesh_.has_mail(self_, static_cast<unsigned>(lane::request)));
  for (unsigned i = 0; i < shards_ && !work && overflowing_ != 0; ++i)
    for (unsigned l = 0; l < lane_count && !work; ++l)
      work = !overflow_of(shard_at(i), l).queue.empty() && mesh_.has_room(self_, shard_at(i), l);
  if (jammed && !congested()) work = true;
  if (!work && link_) work = !cluster_idle();
  for (unsigned i = 0; i < shards_ && !work && waiting_count_ != 0; ++i)
    work = !waiting_[i].empty() && may_resume(shard_at(i));
  if (work) mesh_.woke(self_);
  return !work;
}

void pubsub_hub::dispatch(shard_context& ctx, shard_message& m) {
  std::visit(overloaded{
                 [&](publish_request& r) { home_publish(ctx, std::move(r.job)); },
                 [&](subscribe_request& r) { home_subscribe(ctx, std::move(r.job)); },
                 [&](unsubscribe_request& r) { home_unsubscribe(*r.job); },
                 [&](publish_answer& a) { on_publish_done(ctx, std::move(a.job)); },
                 [&](subscribe_answer& a) { on_subscribe_done(ctx, std::move(a.job)); },
                 [&](delivery& d) { on_deliver(ctx, std::move(d.frame)); },
                 [&](gap_notice& g) { on_gap(ctx, *g.job); },
             },
             m);
}

}  // namespace shoal::gateway
