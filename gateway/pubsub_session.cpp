// A /ws connection's pub/sub state (see pubsub_session.hpp): client commands, and the
// slow-consumer policy applied per delivery, decided by the connection's buffered bytes.
#include "gateway/pubsub_session.hpp"

#include "gateway/connection.hpp"
#include "gateway/pubsub_hub.hpp"

namespace shoal::gateway {

pubsub_session::~pubsub_session() {
  for (auto& sub : subs_)
    if (sub->conflated) sub->conflated->release();
}

subscription* pubsub_session::find(std::string_view topic) noexcept {
  for (auto& sub : subs_)
    if (sub->topic == topic) return sub.get();
  return nullptr;
}

void pubsub_session::send_error(shard_context& ctx, protocol_error_code code, std::string_view message,
                                std::string_view id, std::string_view topic) {
  std::string& text = ctx.scratch;
  text.clear();
  encode_error(text, code, message, id, topic);
  conn_.queue_text(ctx, text);
}

void pubsub_session::on_text(shard_context& ctx, std::string_view text) {
  pubsub_hub& hub = *ctx.hub;
  const parse_outcome in = hub.parser().parse(text, ctx.settings.max_topic_length);
  if (!in.ok) {
    send_error(ctx, in.error, in.message, in.id, in.topic);
    return;
  }
  const client_command& cmd = in.command;
  switch (cmd.op) {
    case client_op::subscribe: {
      if (subscription* old = find(cmd.topic)) {
        // Subscribing again (e.g. to resume from a sequence number) replaces the subscription.
        leave(ctx, old);
      } else if (subs_.size() >= ctx.settings.max_topics_per_connection) {
        send_error(ctx, protocol_error_code::too_many_topics,
                   "this connection is at limits.max_topics_per_connection", cmd.id, cmd.topic);
        return;
      }
      auto sub = std::make_unique<subscription>();
      sub->topic = std::string(cmd.topic);
      sub->conn = &conn_;
      sub->id = next_sub_id_++ & 0x7fffffffu;
      subscription& added = *sub;
      subs_.push_back(std::move(sub));  // first: the hub may answer at once (topic homed here)
      hub.subscribe(ctx, added, cmd.since, cmd.id);
      return;
    }
    case client_op::unsubscribe: {
      subscription* sub = find(cmd.topic);
      if (!sub) {
        send_error(ctx, protocol_error_code::not_subscribed, "not subscribed to this topic", cmd.id,
                   cmd.topic);
        return;
      }
      leave(ctx, sub);
      ctx.scratch.clear();
      encode_unsubscribed(ctx.scratch, cmd.topic, cmd.id);
      conn_.queue_text(ctx, ctx.scratch);
      return;
    }
    case client_op::publish:
      hub.publish(ctx, conn_.token(), cmd.topic, cmd.data, cmd.id, false);
      return;
  }
}

void pubsub_session::refused(shard_context& ctx, subscription* sub, std::string_view id) {
  send_error(ctx, protocol_error_code::too_many_topics, "the server holds pubsub.max_topics topics",
             id, sub->topic);
  ctx.hub->unlist(*sub);
  std::erase_if(subs_, [sub](const auto& p) { return p.get() == sub; });
}

void pubsub_session::leave(shard_context& ctx, subscription* sub) {
  ctx.hub->unsubscribe(ctx, *sub);
  if (sub->conflated || sub->gap_from) --held_back_;
  if (sub->conflated) sub->conflated->release();
  std::erase_if(subs_, [sub](const auto& p) { return p.get() == sub; });
}

void pubsub_session::hold_gap(subscription& sub, std::uint64_t from, std::uint64_t to) {
  if (sub.gap_from == 0) {
    if (!sub.conflated) ++held_back_;
    sub.gap_from = from;
  }
  sub.gap_to = to;
}

void pubsub_session::send_gap(shard_context& ctx, subscription& sub) {
  if (!sub.gap_from) return;
  ctx.scratch.clear();
  encode_gap(ctx.scratch, sub.topic, sub.gap_from, sub.gap_to);
  conn_.queue_text(ctx, ctx.scratch);
  shard_metrics::add(ctx.metrics.gaps);
  sub.gap_from = sub.gap_to = 0;
}

void pubsub_session::missed(shard_context&, subscription& sub, std::uint64_t from, std::uint64_t to) {
  hold_gap(sub, from, to);  // reported with the next delivery or when the output drains
}

void pubsub_session::deliver(shard_context& ctx, subscription& sub, local_frame* frame) {
  // The per-delivery path: the policy and catch-up cases are out of line so this stays a few
  // instructions and a tail call.
  if (conn_.buffered() + frame->size() > ctx.settings.slow_consumer_limit) [[unlikely]] {
    over_limit(ctx, sub, frame);
    return;
  }
  if (sub.gap_from || sub.conflated) [[unlikely]] catch_up(ctx, sub);
  conn_.queue_broadcast(ctx, frame);
}

void pubsub_session::over_limit(shard_context& ctx, subscription& sub, local_frame* frame) {
  shard_metrics::add(ctx.metrics.drops);
  switch (ctx.settings.policy) {
    case slow_consumer_policy::drop:
      hold_gap(sub, frame->frame->seq(), frame->frame->seq());
      return;
    case slow_consumer_policy::close:
      conn_.start_close(ctx, static_cast<std::uint16_t>(core::close_code::policy_violation),
                        "slow consumer: output buffer over backpressure.slow_consumer_limit");
      return;
    case slow_consumer_policy::conflate:
      // Keep only the newest message of the topic while backlogged.
      if (sub.conflated) sub.conflated->release();
      else if (sub.gap_from == 0) ++held_back_;
      frame->retain();
      sub.conflated = frame;
      return;
  }
}

void pubsub_session::catch_up(shard_context& ctx, subscription& sub) {
  // Below the limit again, with a gap or a conflated message held back: the gap notice goes
  // first; a conflated message is superseded by the newer one being delivered.
  send_gap(ctx, sub);
  if (sub.conflated) {
    sub.conflated->release();
    sub.conflated = nullptr;
  }
  --held_back_;
}

void pubsub_session::on_drained(shard_context& ctx) {
  for (auto& p : subs_) {
    subscription& sub = *p;
    send_gap(ctx, sub);
    if (sub.conflated) {
      conn_.queue_broadcast(ctx, sub.conflated);
      sub.conflated->release();
      sub.conflated = nullptr;
    }
  }
  held_back_ = 0;
}

void pubsub_session::leave_all(shard_context& ctx) {
  for (auto& sub : subs_) {
    ctx.hub->unsubscribe(ctx, *sub);
    if (sub->conflated) {
      sub->conflated->release();
      sub->conflated = nullptr;
    }
  }
  subs_.clear();
  held_back_ = 0;
}

}  // namespace shoal::gateway
