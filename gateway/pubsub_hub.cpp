// The shard's pub/sub engine (see pubsub_hub.hpp for the ordering argument).
#include "gateway/pubsub_hub.hpp"

#include <cstring>

#include "core/frame.hpp"
#include "core/frame_encoder.hpp"
#include "gateway/conn_deflate.hpp"
#include "gateway/connection.hpp"

namespace shoal::gateway {

namespace {
constexpr std::uint64_t topic_linger_ticks = 60'000 / tick_ms;  // history kept 60 s unused
// Publishes waiting for room in the mailbox toward one home shard. Past it the home is far
// behind (stalled, or flooded by every other shard) and new publishes to its topics are refused
// with "overloaded" rather than queued without bound.
constexpr std::size_t max_outbox_publishes = 65'536;
}  // namespace

pubsub_hub::pubsub_hub(unsigned self, unsigned shards, const config& cfg, shard_mesh& mesh)
    : self_(self),
      shards_(shards),
      cfg_(cfg),
      mesh_(mesh),
      outbox_(shards),
      max_home_topics_(static_cast<std::size_t>((cfg.pubsub.max_topics + shards - 1) / shards)),
      history_budget_(cfg.pubsub.history_bytes / shards) {}

pubsub_hub::~pubsub_hub() {
  for (auto& [name, t] : home_) forget_all(t);
  for (auto& box : outbox_)
    for (shard_message& m : box) m.dispose();
}

unsigned pubsub_hub::home_of(std::string_view topic) const noexcept {
  return static_cast<unsigned>(string_hash{}(topic) % shards_);
}

void pubsub_hub::send(shard_context& ctx, unsigned to, shard_message m, bool droppable) {
  if (to == self_) {
    dispatch(ctx, m);
    return;
  }
  // FIFO per destination: while older messages wait in the outbox, newer ones queue behind
  // them (or, for deliveries, are dropped: the receiver reports the gap).
  if (outbox_[to].empty() && mesh_.send(self_, to, std::move(m))) return;
  if (droppable) {
    m.dispose();
    shard_metrics::add(ctx.metrics.drops);
    return;
  }
  outbox_[to].push_back(m);
}

void pubsub_hub::poll(shard_context& ctx) {
  now_ = ctx.now;
  for (unsigned to = 0; to < shards_; ++to) {
    auto& box = outbox_[to];
    while (!box.empty() && mesh_.send(self_, to, std::move(box.front()))) box.pop_front();
  }
  mesh_.receive(self_, [&](unsigned, shard_message&& m) { dispatch(ctx, m); });
}

void pubsub_hub::dispatch(shard_context& ctx, shard_message m) {
  switch (m.kind) {
    case message_kind::publish: home_publish(ctx, static_cast<publish_job*>(m.ptr)); return;
    case message_kind::publish_done: on_publish_done(ctx, static_cast<publish_job*>(m.ptr)); return;
    case message_kind::subscribe: home_subscribe(ctx, static_cast<subscribe_job*>(m.ptr)); return;
    case message_kind::subscribe_done: on_subscribe_done(ctx, static_cast<subscribe_job*>(m.ptr)); return;
    case message_kind::unsubscribe: home_unsubscribe(static_cast<unsubscribe_job*>(m.ptr)); return;
    case message_kind::deliver: on_deliver(ctx, static_cast<shared_frame*>(m.ptr)); return;
  }
}

// ---- Session side -------------------------------------------------------------------------

void pubsub_hub::subscribe(shard_context& ctx, subscription& sub, std::optional<std::uint64_t> since,
                           std::string_view id) {
  local_topic& lt = local_.try_emplace(sub.topic).first->second;
  sub.index = static_cast<std::uint32_t>(lt.subs.size());
  sub.active = false;
  lt.subs.push_back(&sub);
  auto* job = new subscribe_job;
  job->topic = sub.topic;
  job->id = std::string(id);
  job->conn_token = sub.conn->token();
  job->sub_id = sub.id;
  job->origin = static_cast<std::uint16_t>(self_);
  job->since = since;
  job->compressed = sub.conn->takes_compressed_broadcast();
  send(ctx, home_of(sub.topic), shard_message::of(job, false), false);
}

void pubsub_hub::unsubscribe(shard_context& ctx, subscription& sub) {
  unlist(sub);
  auto* job = new unsubscribe_job{sub.topic, static_cast<std::uint16_t>(self_),
                                  sub.conn->takes_compressed_broadcast()};
  send(ctx, home_of(sub.topic), shard_message::of(job), false);
}

void pubsub_hub::unlist(subscription& sub) {
  const auto it = local_.find(sub.topic);
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

void pubsub_hub::publish(shard_context& ctx, std::uint64_t conn_token, std::string_view topic,
                         std::string_view data, std::string_view id, bool from_http) {
  auto* job = new publish_job{std::string(topic), std::string(data), std::string(id), conn_token,
                              static_cast<std::uint16_t>(self_), from_http};
  const unsigned home = home_of(topic);
  if (outbox_[home].size() >= max_outbox_publishes) {
    job->refused = "the topic's shard is overloaded; retry later";
    job->refused_code = protocol_error_code::overloaded;
    refuse_publish(ctx, job);
    return;
  }
  send(ctx, home, shard_message::of(job, false), false);
}

void pubsub_hub::refuse_publish(shard_context& ctx, publish_job* job) {
  shard_metrics::add(ctx.metrics.publishes_refused);
  on_publish_done(ctx, job);
}

// ---- Home side ----------------------------------------------------------------------------

shared_frame* pubsub_hub::encode_delivery(shard_context& ctx, std::string_view topic,
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
  shared_frame* f = shared_frame::create(static_cast<std::uint32_t>(header + json),
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

void pubsub_hub::remember(home_topic& t, shared_frame* f) {
  // History: the ring holds one reference per message until it is overwritten or forgotten.
  const std::size_t cap = cfg_.pubsub.ring_size;
  const std::uint64_t seq = t.last_seq;
  if (t.ring.size() < cap) {
    t.ring.push_back(f);  // seq == ring.size() while the ring fills (seq starts at 1)
  } else {
    if (seq - t.first_seq + 1 > cap) forget_oldest(t);  // the slot seq will take
    t.ring[(seq - 1) & (cap - 1)] = f;
  }
  history_bytes_ += f->bytes();
  // Over the byte budget: this topic's oldest messages go first (it is the one growing), but
  // its newest stays; the sweep trims the other topics.
  while (history_bytes_ > history_budget_ && t.first_seq < seq) forget_oldest(t);
}

void pubsub_hub::forget_oldest(home_topic& t) {
  // While the ring is still growing, seq - 1 < ring.size() <= ring_size, so the mask is a no-op.
  shared_frame*& slot = t.ring[(t.first_seq - 1) & (cfg_.pubsub.ring_size - 1)];
  history_bytes_ -= slot->bytes();
  slot->release();
  slot = nullptr;
  ++t.first_seq;
}

void pubsub_hub::forget_all(home_topic& t) {
  while (t.first_seq <= t.last_seq && !t.ring.empty()) forget_oldest(t);
}

void pubsub_hub::home_publish(shard_context& ctx, publish_job* job) {
  home_topic* topic = home_topic_for(job->topic);
  if (!topic) {
    job->refused = "the server holds pubsub.max_topics topics";
    job->refused_code = protocol_error_code::too_many_topics;
    shard_metrics::add(ctx.metrics.publishes_refused);
    send(ctx, job->origin, shard_message::of(job, true), false);
    return;
  }
  home_topic& t = *topic;
  t.last_used = now_;
  const std::uint64_t seq = ++t.last_seq;
  shared_frame* f = encode_delivery(ctx, job->topic, seq, job->data, t.compressed_interest > 0);
  if (history_budget_ > 0) remember(t, f);
  else {
    f->release();
    t.first_seq = seq + 1;
  }
  for (unsigned s = 0; s < shards_; ++s) {
    if (t.interest[s] == 0) continue;
    f->retain();
    send(ctx, s, shard_message::of(f), true);
  }
  job->seq = seq;
  send(ctx, job->origin, shard_message::of(job, true), false);
}

void pubsub_hub::home_subscribe(shard_context& ctx, subscribe_job* job) {
  home_topic* topic = home_topic_for(job->topic);
  if (!topic) {
    job->refused = true;
    send(ctx, job->origin, shard_message::of(job, true), false);
    return;
  }
  home_topic& t = *topic;
  ++t.interest[job->origin];
  ++t.interested;
  if (job->compressed) ++t.compressed_interest;
  t.last_used = now_;
  job->seq = t.last_seq;
  const std::size_t cap = cfg_.pubsub.ring_size;
  const std::uint64_t oldest = t.first_seq;  // == last_seq + 1 when none is held
  job->oldest = oldest;
  if (job->since && *job->since < t.last_seq) {
    const std::uint64_t from = *job->since + 1;
    if (from < oldest) {
      job->too_old = true;
    } else {
      job->replay.reserve(t.last_seq - from + 1);
      for (std::uint64_t s = from; s <= t.last_seq; ++s) {
        shared_frame* f = t.ring[(s - 1) & (cap - 1)];
        f->retain();
        job->replay.push_back(f);
      }
    }
  } else if (job->since && *job->since > t.last_seq) {
    job->too_old = true;  // a sequence this topic never had (it was forgotten and restarted)
  }
  send(ctx, job->origin, shard_message::of(job, true), false);
}

void pubsub_hub::home_unsubscribe(unsubscribe_job* job) {
  const auto it = home_.find(job->topic);
  if (it != home_.end() && it->second.interest[job->origin] > 0) {
    --it->second.interest[job->origin];
    --it->second.interested;
    if (job->compressed && it->second.compressed_interest > 0) --it->second.compressed_interest;
    it->second.last_used = now_;
  }
  delete job;
}

void pubsub_hub::sweep(std::uint64_t now) {
  now_ = now;
  for (auto it = home_.begin(); it != home_.end();) {
    home_topic& t = it->second;
    if (t.interested == 0 && now - t.last_used > topic_linger_ticks) {
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

void pubsub_hub::on_deliver(shard_context& ctx, shared_frame* frame) {
  const auto it = local_.find(frame->topic());
  if (it == local_.end()) {
    frame->release();  // the last local subscriber left while this was on its way
    return;
  }
  local_topic& lt = it->second;
  const std::uint64_t seq = frame->seq();
  if (lt.synced && seq > lt.last_seq + 1) {
    // This shard's mailbox overflowed: every subscriber here missed the range.
    const std::uint64_t from = lt.last_seq + 1;
    for (std::size_t i = 0; i < lt.subs.size(); ++i) {
      subscription& sub = *lt.subs[i];
      if (sub.active && seq - 1 > sub.from_seq)
        sub.conn->session()->missed(ctx, sub, std::max(from, sub.from_seq + 1), seq - 1);
    }
  }
  if (seq > lt.last_seq) lt.last_seq = seq;
  lt.synced = true;
  local_frame* lf = pool_.adopt(frame);
  for (std::size_t i = 0; i < lt.subs.size(); ++i) {
    subscription& sub = *lt.subs[i];
    if (sub.active && seq > sub.from_seq) sub.conn->session()->deliver(ctx, sub, lf);
  }
  lf->release();
}

void pubsub_hub::on_publish_done(shard_context& ctx, publish_job* job) {
  connection* c = lookup_ ? lookup_(lookup_arg_, job->conn_token) : nullptr;
  if (c && c->state() != conn_state::closed) {
    if (job->from_http) {
      c->on_http_publish_result(ctx, job->topic, job->seq, job->refused);
    } else if (c->session()) {
      scratch_.clear();
      if (job->refused) encode_error(scratch_, job->refused_code, job->refused, job->id, job->topic);
      else encode_ack(scratch_, job->topic, job->seq, job->id);
      c->queue_text(ctx, scratch_);
    }
  }
  delete job;
}

void pubsub_hub::on_subscribe_done(shard_context& ctx, subscribe_job* job) {
  connection* c = lookup_ ? lookup_(lookup_arg_, job->conn_token) : nullptr;
  subscription* sub = (c && c->session()) ? c->session()->find(job->topic) : nullptr;
  // Only the subscription this job was sent for: a topic unsubscribed and subscribed again
  // while the first answer was on its way must wait for its own answer (and its replay).
  if (sub && !sub->active && sub->id == job->sub_id && job->refused) {
    c->session()->refused(ctx, sub, job->id);
  } else if (sub && !sub->active && sub->id == job->sub_id) {
    auto it = local_.find(job->topic);
    if (it != local_.end() && !it->second.synced) {
      it->second.last_seq = job->seq;
      it->second.synced = true;
    }
    sub->active = true;
    sub->from_seq = job->seq;
    scratch_.clear();
    encode_subscribed(scratch_, job->topic, job->seq, job->id);
    c->queue_text(ctx, scratch_);
    if (job->too_old) {
      scratch_.clear();
      encode_too_old(scratch_, job->topic, *job->since, job->oldest);
      c->queue_text(ctx, scratch_);
    }
    for (shared_frame* f : job->replay) {
      local_frame* lf = pool_.adopt(f);
      c->queue_broadcast(ctx, lf);
      lf->release();
    }
    job->replay.clear();
  }
  for (shared_frame* f : job->replay) f->release();
  delete job;
}

void pubsub_hub::discard_pending() {
  for (auto& box : outbox_) {
    for (shard_message& m : box) m.dispose();
    box.clear();
  }
  mesh_.receive(self_, [](unsigned, shard_message&& m) { m.dispose(); });
}

}  // namespace shoal::gateway
