// Receiving a topic's records on its home shard (pubsub_cluster.cpp's top comment): syncing with
// the stream, live copies checked link by link against the chain, holes repaired by walking the
// chain back through the stream, and resumes that read further back than the history here.
// Runs on the topic's home shard; the stream's answers arrive in cluster_on_reply.
#include <nats/nats.h>

#include <cinttypes>
#include <cstdio>

#include "gateway/cluster_codec.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/log.hpp"
#include "gateway/pubsub_cluster.hpp"
#include "gateway/pubsub_hub.hpp"

namespace shoal::gateway {

void pubsub_hub::cluster_sync(shard_context& ctx, const std::string& name, home_topic& t) {
  cluster_topic& c = *t.cl;
  const unsigned me = index_of(self_);
  if (!c.watched) {
    // Queued before the read below, so NATS has the subscription before it answers the read:
    // every record stored after the answer arrives live.
    c.key = next_watch_key_++;
    link_->watch(me, name, c.key);
    c.watched = true;
    watches_.emplace(c.key, name);
  }
  if (c.state != sync_state::repairing) c.state = sync_state::syncing;
  c.recheck = false;
  auto r = std::make_unique<cluster_request>();
  r->kind = request_kind::sync;
  r->topic = name;
  const std::uint64_t id = track(std::move(r));
  const std::string body = R"({"last_by_subj":")" + link_->stored_subject(name) + R"("})";
  if (!link_->direct_get(me, id, body)) {
    requests_.erase(id);
    resync_.push_back(name);  // cluster_timeouts tries again, or answers the parked
    return;
  }
  shard_metrics::add(ctx.metrics.cluster_fetches);
  c.sync_req = id;
}

void pubsub_hub::cluster_on_live(shard_context& ctx, link_event_ptr e) {
  const auto w = watches_.find(e->key);
  if (w == watches_.end()) return;  // a copy for a topic this shard stopped watching
  const auto it = home_.find(w->second);
  if (it == home_.end() || !it->second.cl || it->second.cl->key != e->key) return;
  home_topic& t = it->second;
  cluster_topic& c = *t.cl;
  cluster_record r;
  if (!read_record(e->msg, r)) {
    log_line(log_level::warn, "cluster: a message on %s is not a Shoal record; skipped",
             natsMsg_GetSubject(e->msg));
    return;
  }
  shard_metrics::add(ctx.metrics.cluster_live_records);
  if (c.state != sync_state::synced) {
    // Waits for the read in flight; bounded, and what is dropped here is read again after.
    if (c.held_bytes + e->bytes > queue_bytes_) {
      c.held_dropped = true;
      return;
    }
    c.held_bytes += e->bytes;
    c.held.push_back(std::move(e));
    return;
  }
  cluster_accept(ctx, it->first, t, std::move(e), r);
}

void pubsub_hub::cluster_accept(shard_context& ctx, const std::string& name, home_topic& t, link_event_ptr e,
                                const cluster_record& r) {
  cluster_topic& c = *t.cl;
  if (r.sseq <= c.last_sseq) return;  // delivered already (read from the stream meanwhile)
  if (r.prev > c.last_sseq) {
    // A hole before it: walk the chain back from its predecessor, then deliver it.
    c.held_bytes += e->bytes;
    c.held.push_back(std::move(e));
    c.state = sync_state::repairing;
    auto w = std::make_unique<walk>();
    w->topic = name;
    w->stop_sseq = c.last_sseq;
    w->next_sseq = r.prev;
    cluster_walk_step(ctx, std::move(w));
    return;
  }
  cluster_deliver(ctx, name, t, r, body_of(e->msg));
}

void pubsub_hub::cluster_deliver(shard_context& ctx, const std::string& name, home_topic& t,
                                 const cluster_record& r, std::string_view body) {
  cluster_topic& c = *t.cl;
  if (r.sseq > c.last_sseq) c.last_sseq = r.sseq;
  if (r.last() <= t.last_seq) return;
  if (!cluster::split_record(body, r.count, parts_)) {
    log_line(log_level::error, "cluster: record %" PRIu64 " of %s is malformed; its %" PRIu64
             " messages are announced as a gap", r.sseq, name.c_str(), r.count);
    cluster_gap(ctx, name, t, r.last() + 1);
    return;
  }
  for (std::uint64_t seq = std::max(r.first, t.last_seq + 1); seq <= r.last(); ++seq) {
    if (seq > t.last_seq + 1) cluster_gap(ctx, name, t, seq);  // the stream no longer held them
    broadcast(ctx, t, name, seq, parts_[seq - r.first]);
    if (history_budget_ > 0 && t.first_seq <= seq) {
      const std::size_t slot = (seq - 1) & (cfg_.pubsub.ring_size - 1);
      if (slot >= c.ring_sseq.size()) c.ring_sseq.resize(t.ring.size());
      c.ring_sseq[slot] = r.sseq;
    }
  }
}

void pubsub_hub::cluster_gap(shard_context& ctx, const std::string& name, home_topic& t, std::uint64_t next) {
  // Messages t.last_seq+1 .. next-1 are lost: announced to every subscriber, and the history here
  // starts again at `next` (it holds no holes).
  const std::uint64_t from = t.last_seq + 1;
  shard_metrics::add(ctx.metrics.cluster_lost, next - from);
  for (unsigned i = 0; i < shards_; ++i)
    if (t.interest[i] != 0)
      send(ctx, shard_at(i), gap_notice{std::make_unique<gap_job>(gap_job{name, from, next - 1})});
  forget_all(t);
  t.first_seq = next;
  t.last_seq = next - 1;
}

void pubsub_hub::cluster_on_synced(shard_context& ctx, const std::string& name, home_topic& t,
                                   const cluster_record* last) {
  cluster_topic& c = *t.cl;
  const std::uint64_t sseq = last ? last->sseq : 0;
  if (!c.ever_synced) {
    // Where the topic stands; this node's history of it starts after that.
    forget_all(t);
    t.last_seq = last ? last->last() : 0;
    t.first_seq = t.last_seq + 1;
    c.last_sseq = sseq;
    c.ever_synced = true;
  } else if (sseq > c.last_sseq) {
    // Records this node has not seen (it was cut off): read them back to the last one it has.
    c.state = sync_state::repairing;
    auto w = std::make_unique<walk>();
    w->topic = name;
    w->stop_sseq = c.last_sseq;
    w->next_sseq = sseq;
    return cluster_walk_step(ctx, std::move(w));
  } else if (sseq < c.last_sseq) {
    log_line(log_level::warn, "cluster: the stream holds less of %s than this node delivered (was it purged?); "
             "going on from what it holds", name.c_str());
    c.last_sseq = sseq;
  }
  c.state = sync_state::synced;
  cluster_release_held(ctx, name, t);
  cluster_release_parked(ctx, name, t);
}

void pubsub_hub::cluster_release_held(shard_context& ctx, const std::string& name, home_topic& t) {
  cluster_topic& c = *t.cl;
  if (c.recheck) {
    c.recheck = false;
    return cluster_sync(ctx, name, t);
  }
  std::vector<link_event_ptr> held;
  held.swap(c.held);
  c.held_bytes = 0;
  for (std::size_t i = 0; i < held.size(); ++i) {
    if (c.state != sync_state::synced) {  // a hole again: the rest waits behind it, in order
      for (; i < held.size(); ++i) {
        c.held_bytes += held[i]->bytes;
        c.held.push_back(std::move(held[i]));
      }
      return;
    }
    cluster_record r;
    if (read_record(held[i]->msg, r)) cluster_accept(ctx, name, t, std::move(held[i]), r);
  }
  if (c.held_dropped && c.state == sync_state::synced) {
    c.held_dropped = false;
    cluster_sync(ctx, name, t);  // copies were dropped while waiting: compare with the stream
  }
}

void pubsub_hub::cluster_release_parked(shard_context& ctx, const std::string& name, home_topic& t) {
  cluster_topic& c = *t.cl;
  if (c.state != sync_state::synced || c.parked.empty()) return;
  std::vector<std::unique_ptr<subscribe_job>> parked;
  parked.swap(c.parked);
  for (auto& job : parked)
    if (cluster_subscribe(ctx, name, t, job)) answer_subscribe(ctx, t, std::move(job));
}

bool pubsub_hub::cluster_subscribe(shard_context& ctx, const std::string& name, home_topic& t,
                                   std::unique_ptr<subscribe_job>& job) {
  if (!t.cl) t.cl = std::make_unique<cluster_topic>();
  cluster_topic& c = *t.cl;
  if (c.state == sync_state::none) {
    if (!link_->ready()) {
      job->refused = true;
      job->refused_code = protocol_error_code::unavailable;
      job->refused_reason = down_text;
      const shard_id origin = job->origin;
      send(ctx, origin, subscribe_answer{std::move(job)});
      return false;
    }
    c.parked.push_back(std::move(job));
    cluster_sync(ctx, name, t);
    return false;
  }
  if (c.state != sync_state::synced) {
    c.parked.push_back(std::move(job));
    return false;
  }
  if (job->since && *job->since < t.last_seq && *job->since + 1 < t.first_seq) {
    // Further back than this node's history: read the rest from the stream.
    const std::size_t cap = cfg_.pubsub.ring_size;
    auto w = std::make_unique<walk>();
    w->topic = name;
    w->resume = true;
    w->want_from = *job->since + 1;
    w->below = t.first_seq;
    const bool held = t.first_seq <= t.last_seq && ((t.first_seq - 1) & (cap - 1)) < c.ring_sseq.size();
    w->next_sseq = held ? c.ring_sseq[(t.first_seq - 1) & (cap - 1)] : c.last_sseq;
    w->job = std::move(job);
    ++c.walks;
    cluster_walk_step(ctx, std::move(w));
    return false;
  }
  return true;
}

void pubsub_hub::cluster_walk_step(shard_context& ctx, std::unique_ptr<walk> w) {
  char body[64];
  std::snprintf(body, sizeof body, R"({"seq":%)" PRIu64 "}", w->next_sseq);
  const std::string name = w->topic;
  const bool resume = w->resume;
  auto r = std::make_unique<cluster_request>();
  r->kind = request_kind::walk;
  r->topic = name;
  r->w = std::move(w);
  const std::uint64_t id = track(std::move(r));
  if (link_->direct_get(index_of(self_), id, body)) {
    if (!resume) {
      const auto it = home_.find(name);
      if (it != home_.end() && it->second.cl) it->second.cl->sync_req = id;
    }
    return;
  }
  const auto it = requests_.find(id);
  std::unique_ptr<walk> back = std::move(it->second->w);
  requests_.erase(it);
  cluster_walk_failed(ctx, std::move(back));
}

void pubsub_hub::cluster_walk_failed(shard_context& ctx, std::unique_ptr<walk> w) {
  const auto it = home_.find(w->topic);
  cluster_topic* c = it != home_.end() ? it->second.cl.get() : nullptr;
  if (w->resume) {
    // The subscribe is answered `unavailable`; its client may retry.
    if (c) --c->walks;
    std::unique_ptr<subscribe_job> job = std::move(w->job);
    job->refused = true;
    job->refused_code = protocol_error_code::unavailable;
    job->refused_reason = "JetStream did not answer a read of the topic's history; retry later";
    const shard_id origin = job->origin;
    send(ctx, origin, subscribe_answer{std::move(job)});
    return;
  }
  // A repair: the topic is checked against the stream again shortly (or once the link is back).
  if (!c) return;
  c->sync_req = 0;
  resync_.push_back(it->first);
}

void pubsub_hub::cluster_walk_done(shard_context& ctx, std::unique_ptr<walk> w, bool evicted) {
  const auto it = home_.find(w->topic);
  if (it == home_.end() || !it->second.cl) return;
  const std::string& name = it->first;
  home_topic& t = it->second;
  cluster_topic& c = *t.cl;
  if (!w->resume) {
    // Repair: deliver what was missing, oldest first; what the stream no longer held becomes a
    // gap (cluster_deliver), then the copies held meanwhile.
    c.sync_req = 0;
    for (auto r = w->got.rbegin(); r != w->got.rend(); ++r)
      cluster_deliver(ctx, name, t, r->first, body_of(r->second->msg));
    (void)evicted;
    c.state = sync_state::synced;
    cluster_release_held(ctx, name, t);
    cluster_release_parked(ctx, name, t);
    return;
  }
  --c.walks;
  std::unique_ptr<subscribe_job> job = std::move(w->job);
  std::vector<frame_ref> fetched;
  std::uint64_t expect = w->want_from;
  std::uint64_t oldest = 0;  // the oldest message read, for too_old
  for (auto r = w->got.rbegin(); r != w->got.rend(); ++r) {
    if (oldest == 0) oldest = r->first.first;
    if (!cluster::split_record(body_of(r->second->msg), r->first.count, parts_)) break;
    for (std::uint64_t seq = r->first.first; seq <= r->first.last() && seq < w->below; ++seq) {
      if (seq < expect) continue;
      if (seq != expect) break;
      fetched.push_back(encode_delivery(ctx, name, seq, parts_[seq - r->first.first],
                                        job->compressed || t.compressed_interest > 0));
      ++expect;
    }
  }
  if (expect != w->below) fetched.clear();  // not all there: too_old, with the oldest it has
  if (evicted && fetched.empty() && oldest == 0) oldest = w->below;
  answer_subscribe(ctx, t, std::move(job), std::move(fetched), oldest);
}

}  // namespace shoal::gateway
