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
#include <nats/nats.h>

#include <cinttypes>
#include <cstdio>

#include "gateway/cluster_codec.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/log.hpp"
#include "gateway/pubsub_cluster.hpp"
#include "gateway/pubsub_hub.hpp"

namespace shoal::gateway {

namespace {

constexpr std::size_t max_record_messages = 1000;
constexpr std::size_t record_header_room = 512;  // NATS headers of a record, generously
constexpr std::size_t poll_events = 4096;        // events taken per loop pass, so sockets get a turn
constexpr std::uint64_t timeout_check_ticks = 10;
constexpr unsigned walk_attempts = 5;  // reads of one record before it counts as removed

constexpr const char* down_text =
    "the cluster is unavailable: this node has no link to NATS JetStream; retry later";
constexpr const char* unconfirmed_text =
    "JetStream did not confirm the publish in time; it may still have been stored";
constexpr const char* refused_text = "JetStream refused the publish; retry later";
constexpr const char* too_big_text = "the message is larger than the NATS servers' max_payload";

std::optional<std::uint64_t> header_number(natsMsg* m, const char* name) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, name, &v) != NATS_OK || !v) return std::nullopt;
  return cluster::parse_decimal(v);
}

// The status of a reply ("404", "503", ...) or empty when it is a plain message.
std::string_view status_of(natsMsg* m) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, "Status", &v) == NATS_OK && v) return v;
  return {};
}

// What a publish waiting here for JetStream counts against pubsub.queue_bytes.
std::uint64_t backlog_weight(const publish_job& job) noexcept { return 64 + job.data.size() + job.topic.size(); }

std::string_view body_of(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

}  // namespace

namespace {
// False for what is not a Shoal record (a message put on the subject by other means).
bool read_record(natsMsg* m, cluster_record& r) {
  const auto sseq = header_number(m, "Nats-Sequence");
  const auto first = header_number(m, cluster::header_seq);
  if (!sseq || !first || *first == 0) return false;
  r.sseq = *sseq;
  r.first = *first;
  r.count = header_number(m, cluster::header_count).value_or(1);
  r.prev = header_number(m, cluster::header_prev).value_or(0);
  return r.count >= 1 && r.count <= max_record_messages && r.first <= UINT64_MAX - r.count;
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

// ---- Publishing -------------------------------------------------------------------------

void pubsub_hub::cluster_refuse(shard_context& ctx, std::unique_ptr<publish_job> job, protocol_error_code code,
                                const char* why) {
  job->refused = why;
  job->refused_code = code;
  std::string().swap(job->data);
  shard_metrics::add(ctx.metrics.cluster_publish_failures);
  const shard_id origin = job->origin;
  send(ctx, origin, publish_answer{std::move(job)});
}

void pubsub_hub::cluster_publish(shard_context& ctx, const std::string& name, home_topic& t,
                                 std::unique_ptr<publish_job> job) {
  if (!link_->ready()) return cluster_refuse(ctx, std::move(job), protocol_error_code::unavailable, down_text);
  const std::size_t payload = link_->max_payload();
  if (payload < record_header_room || cluster::entry_size(job->data) > payload - record_header_room)
    return cluster_refuse(ctx, std::move(job), protocol_error_code::message_too_big, too_big_text);
  if (!t.cl) t.cl = std::make_unique<cluster_topic>();
  publish_backlog_ += backlog_weight(*job);
  t.cl->waiting.push_back(std::move(job));
  cluster_pump(ctx, name, t);
}

void pubsub_hub::cluster_fail_sending(shard_context& ctx, home_topic& t, const char* why) {
  cluster_topic& c = *t.cl;
  for (auto& job : c.sending) {
    publish_backlog_ -= std::min<std::uint64_t>(publish_backlog_, backlog_weight(*job));
    cluster_refuse(ctx, std::move(job), protocol_error_code::unavailable, why);
  }
  c.sending.clear();
}

void pubsub_hub::cluster_fail_waiting(shard_context& ctx, home_topic& t, const char* why) {
  cluster_topic& c = *t.cl;
  while (!c.waiting.empty()) {
    std::unique_ptr<publish_job> job = std::move(c.waiting.front());
    c.waiting.pop_front();
    publish_backlog_ -= std::min<std::uint64_t>(publish_backlog_, backlog_weight(*job));
    cluster_refuse(ctx, std::move(job), protocol_error_code::unavailable, why);
  }
}

void pubsub_hub::cluster_pump(shard_context& ctx, const std::string& name, home_topic& t) {
  cluster_topic& c = *t.cl;
  if (c.pub_req != 0 || c.waiting.empty()) return;
  if (!link_->ready()) return cluster_fail_waiting(ctx, t, down_text);
  const unsigned me = index_of(self_);
  if (!c.fence_known) {
    // Where the topic stands: its last record (or none).
    std::string body = R"({"last_by_subj":")" + link_->stored_subject(name) + R"("})";
    auto r = std::make_unique<cluster_request>();
    r->kind = request_kind::fence;
    r->topic = name;
    const std::uint64_t id = track(std::move(r));
    if (!link_->direct_get(me, id, body)) {
      requests_.erase(id);
      return cluster_fail_waiting(ctx, t, down_text);
    }
    shard_metrics::add(ctx.metrics.cluster_fetches);
    c.pub_req = id;
    return;
  }
  // One record: everything waiting, up to the NATS payload limit and max_record_messages.
  const std::size_t limit = link_->max_payload() - record_header_room;
  std::size_t size = 0;
  while (!c.waiting.empty() && c.sending.size() < max_record_messages) {
    const std::size_t add = cluster::entry_size(c.waiting.front()->data);
    if (!c.sending.empty() && size + add > limit) break;
    size += add;
    c.sending.push_back(std::move(c.waiting.front()));
    c.waiting.pop_front();
  }
  std::string& body = record_body_;
  body.clear();
  if (c.sending.size() == 1) {
    body = c.sending.front()->data;
  } else {
    body.reserve(size);
    for (const auto& job : c.sending) cluster::append_entry(body, job->data);
  }
  c.sending_first = c.fence_seq + 1;
  auto r = std::make_unique<cluster_request>();
  r->kind = request_kind::publish;
  r->topic = name;
  const std::uint64_t id = track(std::move(r));
  const std::string subject = link_->stored_subject(name);
  const std::string reply = link_->reply_subject(me, id);
  char first[24], count[24], prev[24], msg_id[64];
  std::snprintf(first, sizeof first, "%" PRIu64, c.sending_first);
  std::snprintf(count, sizeof count, "%zu", c.sending.size());
  std::snprintf(prev, sizeof prev, "%" PRIu64, c.fence_sseq);
  // Deduplication by JetStream, should the client ever send it twice.
  std::snprintf(msg_id, sizeof msg_id, "%s-%u-%" PRIu64, link_->node_uid().c_str(), me, id);
  natsMsg* m = nullptr;
  natsStatus st = natsMsg_Create(&m, subject.c_str(), reply.c_str(), body.data(), static_cast<int>(body.size()));
  if (st == NATS_OK) st = natsMsgHeader_Set(m, cluster::header_seq, first);
  if (st == NATS_OK && c.sending.size() > 1) st = natsMsgHeader_Set(m, cluster::header_count, count);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, cluster::header_prev, prev);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence", prev);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, cluster::header_node, link_->node_name().c_str());
  bool sent = false;
  if (st == NATS_OK) sent = link_->publish(m);  // takes m
  else if (m) natsMsg_Destroy(m);
  if (!sent) {
    requests_.erase(id);
    cluster_fail_sending(ctx, t, down_text);
    return cluster_fail_waiting(ctx, t, down_text);
  }
  c.pub_req = id;
  shard_metrics::add(ctx.metrics.cluster_records);
}

// ---- Receiving ----------------------------------------------------------------------------

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
