// The cluster half of the shard's pub/sub engine (pubsub_hub.hpp; README "Cluster"). Runs on
// the topic's home shard of every node, for the topics homed there, and talks to JetStream only
// through the cluster_link, never waiting for it: every request is answered later as an event.
//
// Publishing. The home shard is the one place on its node that publishes a topic's messages to
// JetStream, one record at a time per topic: the record holds every publish that waited while
// the previous record was being confirmed, is numbered from the topic's last record (the fence),
// and carries Nats-Expected-Last-Subject-Sequence = that record's stream sequence, so JetStream
// stores it only if no other node stored one meanwhile. On such a conflict the home reads the
// topic's last record again and renumbers. A publish is acknowledged (with its sequence number)
// only once JetStream confirmed the record: an acknowledged publish is stored.
//
// Receiving. A node receives a topic's records once one of its clients subscribes (a NATS
// subscription to the stream's live copies, PREFIX.live.<topic>). Before answering that first
// subscribe, the home reads the topic's last record (where the topic stands). Every record
// names its predecessor (Shoal-Prev), so a live copy whose predecessor is not the last record
// this node delivered reveals a hole (a copy NATS dropped, a link that was down): the home then
// walks the chain back from it through the stream, delivers what was missing in order, and only
// then the copies that came meanwhile (held, in order). Messages the stream no longer holds are
// announced as a gap. After every reconnection each watched topic is checked the same way.
//
// Resuming. A subscribe with `since` older than what this node's history holds walks the chain
// back through the stream to it, and is answered with those messages before the history's.
//
// This file holds the loop (events from the link, timeouts) and the answers to requests;
// publishing is in pubsub_cluster_publish.cpp, receiving, repairs and resumes in
// pubsub_cluster_receive.cpp, and the helpers they share in pubsub_cluster.hpp.
#include <nats/nats.h>

#include "gateway/cluster_codec.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/log.hpp"
#include "gateway/pubsub_cluster.hpp"
#include "gateway/pubsub_hub.hpp"

namespace shoal::gateway {

namespace {

constexpr std::size_t poll_events = 4096;        // events taken per loop pass, so sockets get a turn
constexpr std::uint64_t timeout_check_ticks = 10;
constexpr unsigned walk_attempts = 5;  // reads of one record before it counts as removed

constexpr const char* unconfirmed_text =
    "JetStream did not confirm the publish in time; it may still have been stored";
constexpr const char* refused_text = "JetStream refused the publish; retry later";

// The status of a reply ("404", "503", ...) or empty when it is a plain message.
std::string_view status_of(natsMsg* m) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, "Status", &v) == NATS_OK && v) return v;
  return {};
}

}  // namespace

std::uint64_t pubsub_hub::track(std::unique_ptr<cluster_request> r) {
  const std::uint64_t id = next_request_++;
  r->deadline = now_ + std::max<std::uint64_t>(1, static_cast<std::uint64_t>(cfg_.cluster.request_timeout.count()) / tick_ms);
  requests_.emplace(id, std::move(r));
  return id;
}

bool pubsub_hub::cluster_idle() const noexcept {
  if (!link_->idle(index_of(self_))) return false;
  return link_->generation() == link_generation_ || !link_->ready();
}

bool pubsub_hub::cluster_busy(const home_topic& t) const noexcept {
  const cluster_topic* c = t.cl.get();
  return c && (c->pub_req != 0 || !c->sending.empty() || !c->waiting.empty() || !c->parked.empty() ||
               c->walks != 0 || c->sync_req != 0);
}

void pubsub_hub::cluster_forget(home_topic& t) {
  if (!t.cl) return;
  if (t.cl->watched) {
    link_->unwatch(index_of(self_), t.cl->key);
    watches_.erase(t.cl->key);
  }
  t.cl.reset();
}

// ---- The loop ---------------------------------------------------------------------------

void pubsub_hub::cluster_poll(shard_context& ctx) {
  const unsigned me = index_of(self_);
  const std::uint64_t generation = link_->generation();
  if (generation != link_generation_ && link_->ready()) {
    // (Re)connected, or NATS dropped live copies: check every watched topic against the stream.
    link_generation_ = generation;
    for (auto& [name, t] : home_) {
      cluster_topic* c = t.cl.get();
      if (!c || c->state == sync_state::none) continue;
      if (c->sync_req != 0) c->recheck = true;
      else cluster_sync(ctx, name, t);
    }
  }
  for (std::size_t n = 0; n < poll_events; ++n) {
    link_event_ptr e = link_->pop(me);
    if (!e) break;
    if (e->kind == link_event_kind::live) cluster_on_live(ctx, std::move(e));
    else cluster_on_reply(ctx, std::move(e));
  }
  if (ctx.now - timeout_tick_ >= timeout_check_ticks) {
    timeout_tick_ = ctx.now;
    cluster_timeouts(ctx);
    shard_metrics::set(ctx.metrics.cluster_topics_watched, watches_.size());
  }
}

void pubsub_hub::cluster_timeouts(shard_context& ctx) {
  std::vector<std::uint64_t> expired;
  for (const auto& [id, r] : requests_)
    if (r->deadline <= now_) expired.push_back(id);
  for (const std::uint64_t id : expired) {
    const auto it = requests_.find(id);
    std::unique_ptr<cluster_request> r = std::move(it->second);
    requests_.erase(it);
    if (r->kind == request_kind::walk) {
      cluster_walk_failed(ctx, std::move(r->w));
      continue;
    }
    const auto found = home_.find(r->topic);
    if (found == home_.end() || !found->second.cl) continue;
    home_topic& t = found->second;
    cluster_topic& c = *t.cl;
    switch (r->kind) {
      case request_kind::publish:
        if (c.pub_req != id) break;
        c.pub_req = 0;
        c.fence_known = false;
        cluster_fail_sending(ctx, t, unconfirmed_text);
        cluster_pump(ctx, found->first, t);
        break;
      case request_kind::fence:
        if (c.pub_req != id) break;
        c.pub_req = 0;
        cluster_fail_waiting(ctx, t, down_text);
        break;
      case request_kind::sync:
        if (c.sync_req != id) break;
        c.sync_req = 0;
        resync_.push_back(found->first);  // tried again below, or once the link is back
        break;
      case request_kind::walk:
        break;
    }
  }
  if (!resync_.empty() && link_->ready()) {
    std::vector<std::string> names;
    names.swap(resync_);
    for (const std::string& name : names) {
      const auto it = home_.find(name);
      if (it == home_.end() || !it->second.cl || it->second.cl->sync_req != 0) continue;
      if (it->second.cl->state == sync_state::none) continue;  // nobody waits for it any more
      cluster_sync(ctx, it->first, it->second);
    }
  }
  // Publishes that wait while the link is down are answered now rather than at their deadline.
  if (publish_backlog_ != 0 && !link_->ready())
    for (auto& [name, t] : home_)
      if (t.cl && t.cl->pub_req == 0 && !t.cl->waiting.empty()) cluster_fail_waiting(ctx, t, down_text);
  if (!resync_.empty() && !link_->ready()) {
    // Parked subscribes of topics never in step cannot be answered while NATS is away.
    for (const std::string& name : resync_) {
      const auto it = home_.find(name);
      if (it == home_.end() || !it->second.cl || it->second.cl->ever_synced) continue;
      cluster_topic& c = *it->second.cl;
      for (auto& job : c.parked) {
        job->refused = true;
        job->refused_code = protocol_error_code::unavailable;
        job->refused_reason = down_text;
        send(ctx, job->origin, subscribe_answer{std::move(job)});
      }
      c.parked.clear();
      c.state = sync_state::none;
    }
  }
}

void pubsub_hub::cluster_on_reply(shard_context& ctx, link_event_ptr e) {
  const auto it = requests_.find(e->key);
  if (it == requests_.end()) return;  // timed out and answered already
  std::unique_ptr<cluster_request> r = std::move(it->second);
  requests_.erase(it);
  if (r->kind == request_kind::walk) {
    walk& w = *r->w;
    const std::string_view status = status_of(e->msg);
    cluster_record rec;
    if (status == "404") {
      // Removed by the stream's limits, or not yet applied by the replica that answered (direct
      // gets go to any replica of an R3 stream, and a record named by a later one exists):
      // asked again a few times, then taken as removed.
      if (++w.misses < walk_attempts) return cluster_walk_step(ctx, std::move(r->w));
      return cluster_walk_done(ctx, std::move(r->w), true);
    }
    if (!status.empty() || !read_record(e->msg, rec)) {
      // JetStream could not answer (or the chain holds something foreign).
      return cluster_walk_failed(ctx, std::move(r->w));
    }
    shard_metrics::add(ctx.metrics.cluster_fetches);
    const bool done = w.resume ? (rec.first <= w.want_from || rec.prev == 0) : rec.prev <= w.stop_sseq;
    if (w.resume || rec.sseq > w.stop_sseq) w.got.emplace_back(rec, std::move(e));
    if (done) return cluster_walk_done(ctx, std::move(r->w), false);
    w.next_sseq = rec.prev;
    w.misses = 0;
    return cluster_walk_step(ctx, std::move(r->w));
  }
  const auto found = home_.find(r->topic);
  if (found == home_.end() || !found->second.cl) return;
  const std::string& name = found->first;
  home_topic& t = found->second;
  cluster_topic& c = *t.cl;
  const std::string_view status = status_of(e->msg);
  switch (r->kind) {
    case request_kind::publish: {
      c.pub_req = 0;
      const cluster::publish_ack ack =
          status.empty() ? cluster::parse_publish_ack(body_of(e->msg))
                         : cluster::publish_ack{false, 0, 0, "JetStream is unavailable (status " + std::string(status) + ")"};
      if (ack.ok) {
        std::uint64_t seq = c.sending_first;
        for (auto& job : c.sending) {
          publish_backlog_ -= std::min<std::uint64_t>(publish_backlog_, backlog_weight(*job));
          job->seq = seq++;
          std::string().swap(job->data);
          const shard_id origin = job->origin;
          send(ctx, origin, publish_answer{std::move(job)});
        }
        shard_metrics::add(ctx.metrics.cluster_published, c.sending.size());
        c.sending.clear();
        c.fence_sseq = ack.seq;
        c.fence_seq = seq - 1;
        c.fence_known = true;
      } else if (ack.err_code == cluster::err_wrong_last_sequence) {
        // Another node stored a record of this topic first: read where it stands, renumber,
        // and send the same publishes again, ahead of those that came since.
        shard_metrics::add(ctx.metrics.cluster_conflicts);
        c.fence_known = false;
        ring_queue<std::unique_ptr<publish_job>> later;
        while (!c.waiting.empty()) {
          later.push_back(std::move(c.waiting.front()));
          c.waiting.pop_front();
        }
        for (auto& job : c.sending) c.waiting.push_back(std::move(job));
        c.sending.clear();
        while (!later.empty()) {
          c.waiting.push_back(std::move(later.front()));
          later.pop_front();
        }
      } else {
        log_line(log_level::warn, "cluster: publish to %s failed: %s", name.c_str(), ack.description.c_str());
        c.fence_known = false;
        cluster_fail_sending(ctx, t, refused_text);
      }
      return cluster_pump(ctx, name, t);
    }
    case request_kind::fence: {
      c.pub_req = 0;
      cluster_record rec;
      if (status == "404") {
        // No record: the topic starts (or its whole history expired; numbering goes on from
        // what this node knows, README "Cluster").
        c.fence_sseq = 0;
        if (c.ever_synced) c.fence_seq = std::max(c.fence_seq, t.last_seq);
        c.fence_known = true;
      } else if (status.empty() && read_record(e->msg, rec)) {
        c.fence_sseq = rec.sseq;
        c.fence_seq = rec.last();
        c.fence_known = true;
      } else {
        return cluster_fail_waiting(ctx, t, down_text);
      }
      return cluster_pump(ctx, name, t);
    }
    case request_kind::sync: {
      c.sync_req = 0;
      cluster_record rec;
      if (status == "404") return cluster_on_synced(ctx, name, t, nullptr);
      if (status.empty() && read_record(e->msg, rec)) return cluster_on_synced(ctx, name, t, &rec);
      resync_.push_back(name);  // JetStream could not answer: tried again shortly
      return;
    }
    case request_kind::walk:
      return;
  }
}

}  // namespace shoal::gateway
