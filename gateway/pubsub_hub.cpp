// The shard's pub/sub engine (see pubsub_hub.hpp for the ordering and no-loss arguments): the
// session side, the home side (numbering, history, fan-out) and the receiving side. The queues
// between shards are in pubsub_hub_mesh.cpp, the cluster in pubsub_cluster*.cpp. Shard-owned.
#include "gateway/pubsub_hub.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/frame.hpp"
#include "core/frame_encoder.hpp"
#include "gateway/conn_deflate.hpp"
#include "gateway/pubsub_cluster.hpp"

namespace shoal::gateway {

namespace {
constexpr std::uint64_t topic_linger_ticks = 60'000 / tick_ms;  // history kept 60 s unused
}  // namespace

std::uint64_t effective_queue_bytes(const config& cfg, unsigned shards) noexcept {
  if (cfg.pubsub.queue_bytes != 0) return cfg.pubsub.queue_bytes;
  // Derived from memory: every pair of shards and lane together may hold 1/16 of RAM, within
  // [256 KiB, 16 MiB] each (more only adds latency to a burst: the bound is a buffer, and
  // past it the publishers wait, which is the point).
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::uint64_t ram = pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : 1ull << 30;
  const std::uint64_t rings = std::uint64_t{shards} * shards * lane_count;
  return std::clamp<std::uint64_t>(ram / 16 / std::max<std::uint64_t>(rings, 1), 256u << 10, 16u << 20);
}

pubsub_hub::pubsub_hub(shard_id self, unsigned shards, const config& cfg, shard_mesh& mesh, cluster_link* link)
    : self_(self),
      shards_(shards),
      cfg_(cfg),
      mesh_(mesh),
      overflow_(std::size_t{shards} * lane_count),
      waiting_(shards),
      max_home_topics_(static_cast<std::size_t>((cfg.pubsub.max_topics + shards - 1) / shards)),
      history_budget_(cfg.pubsub.history_bytes / shards),
      queue_bytes_(effective_queue_bytes(cfg, shards)),
      link_(link) {}

pubsub_hub::~pubsub_hub() {
  for (auto& [name, t] : home_) cluster_forget(t);
  // frame_refs, jobs and queued messages free themselves
}

shard_id pubsub_hub::home_of(std::string_view topic) const noexcept {
  return shard_at(static_cast<unsigned>(string_hash{}(topic) % shards_));
}

// ---- Session side -------------------------------------------------------------------------

void pubsub_hub::subscribe(shard_context& ctx, subscription& sub, const subscribe_args& a) {
  auto listed = local_.find(a.topic);
  if (listed == local_.end()) listed = local_.try_emplace(std::string(a.topic)).first;
  local_topic& lt = listed->second;
  sub.name = &listed->first;  // node-based map: the key stays where it is while listed
  sub.index = static_cast<std::uint32_t>(lt.subs.size());
  sub.state = sub_state::waiting;
  lt.subs.push_back(&sub);
  auto job = std::make_unique<subscribe_job>();
  job->topic = listed->first;
  job->id = std::string(a.id);
  job->conn_token = a.conn_token;
  job->ticket = a.ticket;
  job->origin = self_;
  job->since = a.since;
  job->compressed = sub.compressed;
  send(ctx, home_of(a.topic), subscribe_request{std::move(job)});
}

void pubsub_hub::unsubscribe(shard_context& ctx, subscription& sub) {
  auto job = std::make_unique<unsubscribe_job>(unsubscribe_job{*sub.name, self_, sub.compressed});
  const shard_id home = home_of(*sub.name);
  unlist(sub);
  send(ctx, home, unsubscribe_request{std::move(job)});
}

void pubsub_hub::unlist(subscription& sub) {
  if (!sub.name) return;
  const auto it = local_.find(*sub.name);
  sub.name = nullptr;
  if (it != local_.end()) {
    auto& subs = it->second.subs;
    if (sub.index < subs.size() && subs[sub.index] == &sub) {
      subs[sub.index] = subs.back();
      subs[sub.index]->index = sub.index;
      subs.pop_back();
    }
    if (subs.empty()) local_.erase(it);
  }
}

admission pubsub_hub::publish(shard_context& ctx, const publish_args& p, bool refuse_when_full) {
  const shard_id home = home_of(p.topic);
  if (refuse_when_full && !may_resume(home)) return admission::full;
  auto job = std::make_unique<publish_job>();
  job->topic = std::string(p.topic);
  job->data = std::string(p.data);
  job->id = std::string(p.id);
  job->conn_token = p.conn_token;
  job->ticket = p.ticket;
  job->origin = self_;
  job->from_http = p.from_http;
  send(ctx, home, publish_request{std::move(job)});
  if (refuse_when_full || may_resume(home)) return admission::accepted;
  hold(p.conn_token, home);
  shard_metrics::add(ctx.metrics.publishers_held);
  return admission::hold;
}

// ---- Home side ----------------------------------------------------------------------------

frame_ref pubsub_hub::encode_delivery(shard_context& ctx, std::string_view topic,
                                          std::uint64_t seq, std::string_view data, bool compress) {
  // Encoded once: header + JSON in one block that every subscriber's queue points at. With
  // subscribers that take compressed frames, the message is also compressed once, with the
  // shard's shared compressor (no context takeover), and the compressed frame follows the plain
  // one in the same block.
  const std::size_t json = delivery_json_size(topic, seq, data);
  const std::size_t header = core::frame_header_size(json, false);
  std::span<const std::uint8_t> packed;
  if (compress && json >= ctx.settings.deflate_min_size) {
    scratch_.resize(json);
    write_delivery_json(scratch_.data(), topic, seq, data);
    core::deflater& d = ctx.deflate->compressor(broadcast_deflater_settings(ctx.settings.deflate));
    std::vector<std::uint8_t>& out = ctx.deflate_out;
    if (out.size() < core::compressed_frame_capacity(json)) out.resize(core::compressed_frame_capacity(json));
    const std::span<const std::uint8_t> chunks[] = {
        {reinterpret_cast<const std::uint8_t*>(scratch_.data()), json}};
    const auto frame = core::encode_compressed_frame(d, core::opcode::text, chunks, nullptr, out);
    shard_metrics::add(ctx.metrics.deflate_compressed);
    if (frame && frame->size() < header + json) packed = *frame;  // else plain serves everyone
  }
  frame_ref f = shared_frame::create(static_cast<std::uint32_t>(header + json),
                                         static_cast<std::uint32_t>(packed.size()));
  core::encode_frame_header(f->data(), core::opcode::text, json, true, false, nullptr);
  char* body = reinterpret_cast<char*>(f->data() + header);
  if (compress && json >= ctx.settings.deflate_min_size) std::memcpy(body, scratch_.data(), json);
  else write_delivery_json(body, topic, seq, data);
  if (!packed.empty()) std::memcpy(f->compressed_data(), packed.data(), packed.size());
  const std::string_view text(body, json);
  const std::size_t at = text.find(R"("topic":")") + 9;
  f->set_message(seq, static_cast<std::uint32_t>(header + at), static_cast<std::uint32_t>(topic.size()));
  return f;
}

pubsub_hub::home_topic* pubsub_hub::home_topic_for(const std::string& name) {
  if (const auto it = home_.find(name); it != home_.end()) return &it->second;
  if (home_.size() >= max_home_topics_) return nullptr;
  home_topic& t = home_.try_emplace(name).first->second;
  t.interest.assign(shards_, 0);
  return &t;
}

void pubsub_hub::remember(home_topic& t, frame_ref f) {
  // History: the ring holds one reference per message until it is overwritten or forgotten.
  const std::size_t cap = cfg_.pubsub.ring_size;
  const std::uint64_t seq = t.last_seq;
  const std::size_t slot = (seq - 1) & (cap - 1);
  if (seq - t.first_seq + 1 > cap) forget_oldest(t);  // the slot seq will take
  // The ring grows to ring_size as it fills: on a single node seq starts at 1, so this appends;
  // a cluster node's history starts wherever it joined the topic.
  if (slot >= t.ring.size()) t.ring.resize(slot + 1);
  history_bytes_ += f->bytes();
  t.ring[slot] = std::move(f);
  // Over the byte budget: this topic's oldest messages go first (it is the one growing), but
  // its newest stays; the sweep trims the other topics.
  while (history_bytes_ > history_budget_ && t.first_seq < seq) forget_oldest(t);
}

void pubsub_hub::forget_oldest(home_topic& t) {
  // Every held message's slot exists: remember() grew the ring to it.
  frame_ref& slot = t.ring[(t.first_seq - 1) & (cfg_.pubsub.ring_size - 1)];
  history_bytes_ -= slot->bytes();
  slot.reset();
  ++t.first_seq;
}

void pubsub_hub::forget_all(home_topic& t) {
  while (t.first_seq <= t.last_seq && !t.ring.empty()) forget_oldest(t);
}

void pubsub_hub::home_publish(shard_context& ctx, std::unique_ptr<publish_job> job) {
  const shard_id origin = job->origin;
  home_topic* topic = home_topic_for(job->topic);
  if (!topic) {
    job->refused = "the server holds pubsub.max_topics topics";
    job->refused_code = protocol_error_code::too_many_topics;
    shard_metrics::add(ctx.metrics.publishes_refused);
    send(ctx, origin, publish_answer{std::move(job)});
    return;
  }
  home_topic& t = *topic;
  t.last_used = now_;
  if (link_) {
    // Numbered by the cluster: answered once JetStream has stored it, delivered when its
    // stored copy comes back (to every node alike).
    const std::string& name = home_.find(job->topic)->first;  // before job is moved
    cluster_publish(ctx, name, t, std::move(job));
    return;
  }
  const std::uint64_t seq = t.last_seq + 1;
  broadcast(ctx, t, job->topic, seq, job->data);
  job->seq = seq;
  std::string().swap(job->data);  // the answer does not carry the payload back
  send(ctx, origin, publish_answer{std::move(job)});
}

void pubsub_hub::broadcast(shard_context& ctx, home_topic& t, std::string_view topic, std::uint64_t seq,
                           std::string_view data) {
  t.last_seq = seq;
  frame_ref f = encode_delivery(ctx, topic, seq, data, t.compressed_interest > 0);
  for (unsigned i = 0; i < shards_; ++i)
    if (t.interest[i] != 0) send(ctx, shard_at(i), delivery{f.share()});
  if (history_budget_ > 0) remember(t, std::move(f));
  else t.first_seq = seq + 1;  // no history: `f` goes with the last delivery
}

void pubsub_hub::home_subscribe(shard_context& ctx, std::unique_ptr<subscribe_job> job) {
  const shard_id origin = job->origin;
  home_topic* topic = home_topic_for(job->topic);
  if (!topic) {
    job->refused = true;
    send(ctx, origin, subscribe_answer{std::move(job)});
    return;
  }
  home_topic& t = *topic;
  t.last_used = now_;
  if (link_ && !cluster_subscribe(ctx, home_.find(job->topic)->first, t, job)) return;  // it waits
  answer_subscribe(ctx, t, std::move(job));
}

void pubsub_hub::answer_subscribe(shard_context& ctx, home_topic& t, std::unique_ptr<subscribe_job> job,
                                  std::vector<frame_ref> fetched, std::uint64_t stream_oldest) {
  const shard_id origin = job->origin;
  ++t.interest[index_of(origin)];
  ++t.interested;
  if (job->compressed) ++t.compressed_interest;
  t.last_used = now_;
  job->seq = t.last_seq;
  const std::size_t cap = cfg_.pubsub.ring_size;
  const std::uint64_t oldest = t.first_seq;  // == last_seq + 1 when none is held
  job->oldest = oldest;
  if (job->since && *job->since < t.last_seq) {
    // `fetched` (cluster) holds since+1.. as read from the stream; the history the rest.
    const std::uint64_t from = *job->since + 1 + fetched.size();
    if (from < oldest) {
      job->too_old = true;  // also every resume that needs a message when history is off
      if (stream_oldest != 0) job->oldest = stream_oldest;
    } else {
      job->replay = std::move(fetched);
      job->replay.reserve(job->replay.size() + (t.last_seq + 1 - from));
      for (std::uint64_t s = from; s <= t.last_seq; ++s) job->replay.push_back(t.ring[(s - 1) & (cap - 1)].share());
    }
  } else if (job->since && *job->since > t.last_seq) {
    job->too_old = true;  // a sequence this topic never had (it was forgotten and restarted)
  }
  send(ctx, origin, subscribe_answer{std::move(job)});
}

void pubsub_hub::home_unsubscribe(const unsubscribe_job& job) {
  const auto it = home_.find(job.topic);
  const unsigned origin = index_of(job.origin);  // an index into interest
  if (it != home_.end() && it->second.interest[origin] > 0) {
    --it->second.interest[origin];
    --it->second.interested;
    if (job.compressed && it->second.compressed_interest > 0) --it->second.compressed_interest;
    it->second.last_used = now_;
  }
}

void pubsub_hub::sweep(std::uint64_t now) {
  now_ = now;
  for (auto it = home_.begin(); it != home_.end();) {
    home_topic& t = it->second;
    if (t.interested == 0 && now - t.last_used > topic_linger_ticks && !cluster_busy(t)) {
      cluster_forget(t);
      forget_all(t);
      it = home_.erase(it);
    } else {
      ++it;
    }
  }
  // Still over the history budget (quiet topics hold it): every topic gives up its older half
  // until the budget holds. Each round halves what is held, so this ends within ~64 rounds.
  while (history_bytes_ > history_budget_) {
    bool any = false;
    for (auto& [name, t] : home_) {
      const std::uint64_t held = t.last_seq + 1 - t.first_seq;
      for (std::uint64_t i = 0; i < (held + 1) / 2; ++i) forget_oldest(t);
      any = any || held > 0;
    }
    if (!any) break;
  }
}

// ---- Receiving side -----------------------------------------------------------------------

void pubsub_hub::on_deliver(shard_context& ctx, frame_ref frame) {
  const auto it = local_.find(frame->topic());
  if (it == local_.end()) return;  // the last local subscriber left while this was on its way
  local_topic& lt = it->second;
  const std::uint64_t seq = frame->seq();
  if (lt.synced && seq > lt.last_seq + 1) [[unlikely]] {
    // Cannot happen (no queue drops a delivery); if it ever did, the loss is announced.
    shard_metrics::add(ctx.metrics.internal_gaps);
    const std::uint64_t from = lt.last_seq + 1;
    for (subscription* sub : lt.subs)
      if (sub->state != sub_state::waiting && seq - 1 > sub->from_seq)
        sub->client->missed(ctx, *sub, std::max(from, sub->from_seq + 1), seq - 1);
  }
  if (seq > lt.last_seq) lt.last_seq = seq;
  lt.synced = true;
  local_frame* lf = pool_.adopt(std::move(frame));
  std::uint64_t handed = 0;
  for (std::size_t i = 0; i < lt.subs.size(); ++i) {
    subscription& sub = *lt.subs[i];
    if (sub.state != sub_state::waiting && seq > sub.from_seq) {
      sub.client->deliver(ctx, sub, lf);
      ++handed;
    }
  }
  shard_metrics::add(ctx.metrics.deliveries, handed);  // one store per message and shard
  lf->release();
}

void pubsub_hub::on_gap(shard_context& ctx, const gap_job& gap) {
  const auto it = local_.find(gap.topic);
  if (it == local_.end()) return;
  local_topic& lt = it->second;
  for (subscription* sub : lt.subs)
    if (sub->state != sub_state::waiting && gap.to > sub->from_seq)
      sub->client->missed(ctx, *sub, std::max(gap.from, sub->from_seq + 1), gap.to);
  if (gap.to > lt.last_seq) lt.last_seq = gap.to;
}

void pubsub_hub::on_publish_done(shard_context& ctx, std::unique_ptr<publish_job> job) {
  if (hub_client* c = lookup_ ? lookup_(lookup_arg_, job->conn_token) : nullptr)
    c->published(ctx, std::move(job));
}

void pubsub_hub::on_subscribe_done(shard_context& ctx, std::unique_ptr<subscribe_job> job) {
  if (!job->refused) {
    // Every delivery up to job->seq came before this answer (one FIFO lane), so the shard is
    // in step up to it, also if a stale delivery from before a quick unsubscribe and
    // resubscribe already marked the topic synced at an older seq.
    const auto it = local_.find(job->topic);
    if (it != local_.end()) {
      it->second.last_seq = std::max(it->second.last_seq, job->seq);
      it->second.synced = true;
    }
  }
  if (hub_client* c = lookup_ ? lookup_(lookup_arg_, job->conn_token) : nullptr)
    c->subscribed(ctx, std::move(job));
}

void pubsub_hub::discard_pending() {
  for (overflow& o : overflow_) {
    o.queue.clear();
    o.bytes = 0;
  }
  overflowing_ = 0;
  mesh_.receive(self_, [](shard_id, shard_message&&) {});
}

}  // namespace shoal::gateway
