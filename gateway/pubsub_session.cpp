// A /ws connection's pub/sub state (see pubsub_session.hpp): client commands, answers in
// request order, and the slow-consumer policy applied per delivery, decided by the connection's
// buffered bytes. Tokens and rate limits are in pubsub_session_access.cpp.
#include "gateway/pubsub_session.hpp"

#include "core/close_code.hpp"
#include "gateway/connection.hpp"
#include "gateway/pubsub_hub.hpp"

namespace shoal::gateway {

pubsub_session::pubsub_session(connection& conn, shard_context& ctx) : conn_(conn) {
  const connection_settings& s = ctx.settings;
  if (s.messages_per_second == 0 && s.bytes_per_second == 0) return;
  extras& a = extras_of(ctx);
  a.limited = true;
  a.messages = core::token_bucket(s.messages_per_second, s.message_burst);
  a.bytes = core::token_bucket(s.bytes_per_second, s.bytes_burst);
  // A client refused now and then is not closed; one refused at every message soon is.
  a.strikes = core::token_bucket(std::max<std::uint32_t>(1, s.rate_limit_strikes / 10), s.rate_limit_strikes);
}

pubsub_session::extras& pubsub_session::extras_of(shard_context&) {
  if (!extras_) extras_ = std::make_unique<extras>();
  return *extras_;
}

pubsub_session::~pubsub_session() {
  while (subscription* sub = subs_) {
    subs_ = sub->next;
    release_held(*sub);
    delete sub;
  }
}

subscription* pubsub_session::find(std::string_view topic) noexcept {
  for (subscription* sub = subs_; sub; sub = sub->next)
    if (sub->topic() == topic) return sub;
  return nullptr;
}

pubsub_session::sub_backlog* pubsub_session::backlog(const subscription& sub) noexcept {
  if (!sub.backlogged) return nullptr;
  for (const auto& b : extras_->backlogs)
    if (b->owner == &sub) return b.get();
  return nullptr;
}

pubsub_session::sub_backlog& pubsub_session::backlog_of(shard_context& ctx, subscription& sub) {
  if (sub_backlog* b = backlog(sub)) return *b;
  auto& all = extras_of(ctx).backlogs;
  all.push_back(std::make_unique<sub_backlog>());
  all.back()->owner = &sub;
  sub.backlogged = true;
  return *all.back();
}

std::unique_ptr<pubsub_session::sub_backlog> pubsub_session::take_backlog(subscription& sub) noexcept {
  if (!sub.backlogged) return nullptr;
  sub.backlogged = false;
  auto& all = extras_->backlogs;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i]->owner != &sub) continue;
    std::unique_ptr<sub_backlog> b = std::move(all[i]);
    all[i] = std::move(all.back());
    all.pop_back();
    return b;
  }
  return nullptr;
}

bool pubsub_session::holds_back(const subscription& sub) noexcept {
  const sub_backlog* b = backlog(sub);
  return b && b->holds_back();
}

// ---- Answers, in request order --------------------------------------------------------------

std::uint64_t pubsub_session::take_ticket(shard_context& ctx, subscription* sub) {
  keep(ctx, answer{{}, nullptr, sub, false});
  return static_cast<std::uint32_t>(first_ticket_ + answers_.size() - 1);
}

void pubsub_session::keep(shard_context& ctx, answer&& a) {
  answers_.push_back(std::move(a));
  // Waiting answers cost memory: past the bound, read nothing more from this client until half
  // are out (counted for every kept answer, local errors too, so no mix of requests escapes it).
  if (answers_.size() >= max_unanswered) conn_.hold_input(ctx, conn_hold::answers);
}

void pubsub_session::answer_with(shard_context& ctx, std::uint64_t ticket, std::string_view text) {
  const std::size_t at = ticket_index(ticket);
  if (at == 0) {  // the usual case: nothing before it, nothing kept
    conn_.queue_text(ctx, text);
    pop_answer();
    release_ready(ctx);
    return;
  }
  answer& a = answers_[at];
  a.text.assign(text);
  a.ready = true;
}

void pubsub_session::answer_now(shard_context& ctx, std::string_view text) {
  if (answers_.empty()) {
    conn_.queue_text(ctx, text);
    return;
  }
  keep(ctx, answer{std::string(text), nullptr, nullptr, true});
}

void pubsub_session::send_error_now(shard_context& ctx, protocol_error_code code,
                                    std::string_view message, std::string_view id,
                                    std::string_view topic) {
  std::string& text = ctx.scratch;
  text.clear();
  encode_error(text, code, message, id, topic);
  answer_now(ctx, text);
}

void pubsub_session::release_ready(shard_context& ctx) {
  while (!answers_.empty() && answers_.front().ready) {
    answer& a = answers_.front();
    if (a.sub_job && a.sub) {
      activate(ctx, *a.sub, *a.sub_job);
    } else if (a.sub_job) {  // answered early, then left: the answer is still owed
      ctx.scratch.clear();
      encode_subscribed(ctx.scratch, a.sub_job->topic, a.sub_job->seq, a.sub_job->id);
      conn_.queue_text(ctx, ctx.scratch);
    } else {
      conn_.queue_text(ctx, a.text);
    }
    pop_answer();
  }
  if (answers_.size() < max_unanswered / 2) conn_.release_hold(ctx, conn_hold::answers);
  if (extras_ && extras_->close_code != 0 && answers_.empty()) [[unlikely]]
    conn_.start_close(ctx, extras_->close_code, extras_->close_reason);
}

void pubsub_session::pop_answer() noexcept {
  answers_.pop_front();
  ++first_ticket_;
  answers_.release();
}

// ---- Client commands ------------------------------------------------------------------------

void pubsub_session::on_text(shard_context& ctx, std::string_view text) {
  pubsub_hub& hub = *ctx.hub;
  if (extras_ && extras_->close_code != 0) return;  // closing: what follows is not carried out
  const parse_outcome in = hub.parser().parse(text, ctx.settings.max_topic_length);
  if (extras_ && extras_->limited && !within_limits(ctx, text.size(), in.id)) return;
  if (!in.ok) {
    send_error_now(ctx, in.error, in.message, in.id, in.topic);
    return;
  }
  const client_command& cmd = in.command;
  if (extras_ && extras_->grants && !authorized(ctx, cmd)) [[unlikely]] return;
  switch (cmd.op) {
    case client_op::authenticate:
      send_error_now(ctx, protocol_error_code::bad_message,
                     "this server does not authenticate clients (no JWT keys configured)", cmd.id);
      return;
    case client_op::subscribe:
      subscribe(ctx, cmd);
      return;
    case client_op::unsubscribe: {
      subscription* sub = find(cmd.topic);
      if (!sub) {
        send_error_now(ctx, protocol_error_code::not_subscribed, "not subscribed to this topic",
                       cmd.id, cmd.topic);
        return;
      }
      leave(ctx, sub);
      ctx.scratch.clear();
      encode_unsubscribed(ctx.scratch, cmd.topic, cmd.id);
      answer_now(ctx, ctx.scratch);
      return;
    }
    case client_op::publish: {
      const std::uint64_t ticket = take_ticket(ctx, nullptr);  // first: the answer may come at once
      const admission a = hub.publish(
          ctx, publish_args{conn_.token(), ticket, cmd.topic, cmd.data, cmd.id, false}, false);
      if (a == admission::hold) conn_.hold_input(ctx, conn_hold::hub);
      return;
    }
  }
}

void pubsub_session::subscribe(shard_context& ctx, const client_command& cmd) {
  std::size_t count = 0;
  subscription* old = nullptr;
  for (subscription* sub = subs_; sub; sub = sub->next, ++count)
    if (sub->topic() == cmd.topic) old = sub;
  if (old) {
    leave(ctx, old);  // subscribing again (e.g. to resume from a sequence number) replaces it
  } else if (count >= ctx.settings.max_topics_per_connection) {
    send_error_now(ctx, protocol_error_code::too_many_topics,
                   "this connection is at limits.max_topics_per_connection", cmd.id, cmd.topic);
    return;
  }
  auto* added = new subscription();
  added->client = this;
  added->compressed = conn_.takes_compressed_broadcast();
  subscription** end = &subs_;
  while (*end) end = &(*end)->next;
  *end = added;  // first: the hub may answer at once (topic homed here)
  const std::uint64_t ticket = take_ticket(ctx, added);
  ctx.hub->subscribe(ctx, *added, subscribe_args{conn_.token(), ticket, cmd.topic, cmd.id, cmd.since});
}

// ---- Answers from home shards -----------------------------------------------------------------

void pubsub_session::published(shard_context& ctx, std::unique_ptr<publish_job> job) {
  std::string& text = ctx.scratch;
  text.clear();
  if (job->refused) encode_error(text, job->refused_code, job->refused, job->id, job->topic);
  else encode_ack(text, job->topic, job->seq, job->id);
  answer_with(ctx, job->ticket, text);
}

void pubsub_session::subscribed(shard_context& ctx, std::unique_ptr<subscribe_job> job) {
  const std::size_t at = ticket_index(job->ticket);
  answer& a = answers_[at];
  subscription* sub = a.sub;
  std::string& text = ctx.scratch;
  text.clear();
  if (job->refused) {
    encode_error(text, job->refused_code, job->refused_reason, job->id, job->topic);
    if (sub) {
      ctx.hub->unlist(*sub);
      erase(sub);
    }
    answer_with(ctx, job->ticket, text);
    return;
  }
  if (!sub) {
    // Left (unsubscribed, or replaced) before the answer came: it is still owed, in its place.
    encode_subscribed(text, job->topic, job->seq, job->id);
    answer_with(ctx, job->ticket, text);
    return;
  }
  sub->from_seq = job->seq;
  if (at == 0) {
    sub->state = sub_state::active;
    activate(ctx, *sub, *job);
    pop_answer();
    release_ready(ctx);
    return;
  }
  sub->state = sub_state::held;  // messages from now on wait with the answer
  a.sub_job = std::move(job);
  a.ready = true;
}

void pubsub_session::activate(shard_context& ctx, subscription& sub, subscribe_job& job) {
  std::string& text = ctx.scratch;
  text.clear();
  encode_subscribed(text, job.topic, job.seq, job.id);
  conn_.queue_text(ctx, text);
  if (job.too_old) {
    text.clear();
    encode_too_old(text, job.topic, *job.since, job.oldest);
    conn_.queue_text(ctx, text);
  }
  for (frame_ref& f : job.replay) {
    local_frame* lf = ctx.hub->pool().adopt(std::move(f));
    conn_.queue_broadcast(ctx, lf);
    lf->release();
  }
  job.replay.clear();
  sub.state = sub_state::active;
  if (!sub.backlogged) return;
  // What arrived while the answer waited, then the gap or conflated message that followed it
  // (held deliveries stop at the first one over the limit, so those come last).
  const std::unique_ptr<sub_backlog> b = take_backlog(sub);
  if (extras_) extras_->held_bytes -= b->held_bytes;
  if (b->holds_back()) --held_back_;
  const std::uint64_t gap_from = b->gap_from, gap_to = b->gap_to;
  local_frame* conflated = b->conflated;
  for (local_frame* lf : b->held) {
    deliver(ctx, sub, lf);
    lf->release();
  }
  if (gap_from != 0) {
    hold_gap(ctx, sub, gap_from, gap_to);
    if (conn_.buffered() < ctx.settings.slow_consumer_limit) catch_up(ctx, sub);
  }
  if (conflated) {
    deliver(ctx, sub, conflated);
    conflated->release();
  }
}

void pubsub_session::resume_input(shard_context& ctx) { conn_.release_hold(ctx, conn_hold::hub); }

// ---- Leaving ----------------------------------------------------------------------------------

void pubsub_session::release_held(subscription& sub) {
  if (const std::unique_ptr<sub_backlog> b = take_backlog(sub)) {
    for (local_frame* lf : b->held) lf->release();
    if (extras_) extras_->held_bytes -= b->held_bytes;
    if (b->conflated) b->conflated->release();
  }
  if (sub.state != sub_state::active)
    for (std::size_t i = 0; i < answers_.size(); ++i)
      if (answers_[i].sub == &sub) answers_[i].sub = nullptr;
}

void pubsub_session::erase(subscription* sub) {
  if (holds_back(*sub)) --held_back_;
  release_held(*sub);
  for (subscription** at = &subs_; *at; at = &(*at)->next) {
    if (*at == sub) {
      *at = sub->next;
      delete sub;
      return;
    }
  }
}

void pubsub_session::leave(shard_context& ctx, subscription* sub) {
  ctx.hub->unsubscribe(ctx, *sub);
  erase(sub);
}

void pubsub_session::leave_all(shard_context& ctx) {
  while (subscription* sub = subs_) {
    subs_ = sub->next;
    ctx.hub->unsubscribe(ctx, *sub);
    release_held(*sub);
    delete sub;
  }
  answers_.clear();
  answers_.release();
  held_back_ = 0;
}

// ---- Deliveries and the slow-consumer policy ------------------------------------------------

void pubsub_session::hold_gap(shard_context& ctx, subscription& sub, std::uint64_t from, std::uint64_t to) {
  sub_backlog& b = backlog_of(ctx, sub);
  if (b.gap_from == 0) {
    if (!b.conflated) ++held_back_;
    b.gap_from = from;
  }
  b.gap_to = to;
}

void pubsub_session::send_gap(shard_context& ctx, const subscription& sub, sub_backlog& b) {
  if (!b.gap_from) return;
  ctx.scratch.clear();
  encode_gap(ctx.scratch, sub.topic(), b.gap_from, b.gap_to);
  conn_.queue_text(ctx, ctx.scratch);
  shard_metrics::add(ctx.metrics.gaps);
  b.gap_from = b.gap_to = 0;
}

void pubsub_session::missed(shard_context& ctx, subscription& sub, std::uint64_t from, std::uint64_t to) {
  hold_gap(ctx, sub, from, to);  // reported with the next delivery or when the output drains
}

void pubsub_session::deliver(shard_context& ctx, subscription& sub, local_frame* frame) {
  // The per-delivery path: the policy, held and catch-up cases are out of line so this stays a
  // few instructions and a tail call.
  if (sub.state != sub_state::active) [[unlikely]] {
    hold_delivery(ctx, sub, frame);
    return;
  }
  if (conn_.buffered() + frame->size() > ctx.settings.slow_consumer_limit) [[unlikely]] {
    over_limit(ctx, sub, frame);
    return;
  }
  if (sub.backlogged) [[unlikely]] catch_up(ctx, sub);
  conn_.queue_broadcast(ctx, frame);
}

void pubsub_session::hold_delivery(shard_context& ctx, subscription& sub, local_frame* frame) {
  // The subscription's answer waits for an earlier one; its messages wait with it, counted
  // against the slow-consumer limit like queued ones.
  if (holds_back(sub) ||
      conn_.buffered() + (extras_ ? extras_->held_bytes : 0) + frame->size() >
          ctx.settings.slow_consumer_limit) {
    over_limit(ctx, sub, frame);
    return;
  }
  sub_backlog& b = backlog_of(ctx, sub);
  frame->retain();
  b.held.push_back(frame);
  b.held_bytes += frame->size();
  extras_of(ctx).held_bytes += frame->size();
}

void pubsub_session::over_limit(shard_context& ctx, subscription& sub, local_frame* frame) {
  shard_metrics::add(ctx.metrics.drops);
  switch (ctx.settings.policy) {
    case slow_consumer_policy::drop:
      hold_gap(ctx, sub, frame->frame->seq(), frame->frame->seq());
      return;
    case slow_consumer_policy::close:
      conn_.start_close(ctx, static_cast<std::uint16_t>(core::close_code::policy_violation),
                        "slow consumer: output buffer over backpressure.slow_consumer_limit");
      return;
    case slow_consumer_policy::conflate: {
      // Keep only the newest message of the topic while backlogged.
      sub_backlog& b = backlog_of(ctx, sub);
      if (b.conflated) b.conflated->release();
      else if (b.gap_from == 0) ++held_back_;
      frame->retain();
      b.conflated = frame;
      return;
    }
  }
}

void pubsub_session::catch_up(shard_context& ctx, subscription& sub) {
  // Below the limit again, with a gap or a conflated message held back: the gap notice goes
  // first; a conflated message is superseded by the newer one being delivered.
  // Only an active subscription gets here, so nothing is held with an answer: the backlog
  // is a gap, a conflated message, or both, and empty after this.
  const std::unique_ptr<sub_backlog> b = take_backlog(sub);
  send_gap(ctx, sub, *b);
  if (b->conflated) b->conflated->release();
  --held_back_;
}

void pubsub_session::on_drained(shard_context& ctx) {
  held_back_ = 0;
  if (!extras_) return;
  auto& all = extras_->backlogs;
  for (std::size_t i = 0; i < all.size();) {
    sub_backlog& b = *all[i];
    subscription& sub = *b.owner;
    if (sub.state != sub_state::active) {  // sent after its answer (activate)
      if (b.holds_back()) ++held_back_;
      ++i;
      continue;
    }
    // An active subscription holds no messages (activate took them): only a gap, a conflated
    // message, or both, and nothing once they are out.
    send_gap(ctx, sub, b);
    if (local_frame* conflated = std::exchange(b.conflated, nullptr)) {
      conn_.queue_broadcast(ctx, conflated);
      conflated->release();
    }
    take_backlog(sub);  // moves the last backlog to i: look at i again
  }
}

}  // namespace shoal::gateway
