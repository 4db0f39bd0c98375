// A /ws connection's access checks (see pubsub_session.hpp, README "Security"): the auth
// command and its token's grant, the token's expiry and the handshake deadline, the per-topic
// permissions, and the per-connection rate limits. Runs on the connection's shard.
#include "gateway/pubsub_session.hpp"

#include <ctime>

#include "core/close_code.hpp"
#include "gateway/connection.hpp"

namespace shoal::gateway {

namespace {
// The close code for a token that expired unrefreshed (README "Security"): in the 4000-4999
// range RFC 6455 §7.4.2 leaves to applications.
constexpr std::uint16_t close_token_expired = 4001;

std::uint64_t now_ms(const shard_context& ctx) noexcept { return ctx.now * tick_ms; }
}  // namespace

bool pubsub_session::authorized(shard_context& ctx, const client_command& cmd) {
  if (cmd.op == client_op::authenticate) {
    authenticate(ctx, cmd);
    return false;
  }
  extras& a = *extras_;
  const char* refusal = nullptr;
  if (a.awaiting_token) {
    refusal = "authenticate first: {\"op\":\"auth\",\"token\":\"<JWT>\"}";
  } else if (cmd.op == client_op::publish) {
    // A publisher mostly keeps to its topics: the last one allowed needs no pattern match (the
    // grant is immutable; a new one clears it).
    if (cmd.topic == a.last_published) return true;
    if (!a.grants->may_publish(cmd.topic)) refusal = "the token does not allow publishing on this topic";
    else a.last_published.assign(cmd.topic);
  } else if (cmd.op == client_op::subscribe && !a.grants->may_subscribe(cmd.topic)) {
    refusal = "the token does not allow subscribing to this topic";
  }
  if (refusal == nullptr) return true;
  shard_metrics::add(ctx.metrics.unauthorized);
  send_error_now(ctx, protocol_error_code::unauthorized, refusal, cmd.id, cmd.topic);
  return false;
}

void pubsub_session::start_auth(shard_context& ctx, std::optional<auth_grant> grant) {
  if (grant) {
    apply_grant(ctx, std::move(*grant));
    return;
  }
  static const auto nothing = std::make_shared<const core::topic_permissions>();
  extras& a = extras_of(ctx);
  a.grants = nothing;
  a.awaiting_token = true;
  a.deadline = ctx.now + ctx.settings.handshake_ticks;
}

void pubsub_session::authenticate(shard_context& ctx, const client_command& cmd) {
  const authenticator* auth = current_auth(ctx);
  auth_grant grant;
  const core::jwt_error err = auth ? auth->verify(cmd.token, std::time(nullptr), grant)
                                   : core::jwt_error::no_key;
  if (err != core::jwt_error::none) {
    shard_metrics::add(ctx.metrics.auth_refused[static_cast<std::size_t>(err)]);
    send_error_now(ctx, protocol_error_code::unauthorized, core::describe(err), cmd.id);
    // A refused first token ends the connection; a refused refresh keeps the token it has.
    if (extras_->awaiting_token)
      close_when_answered(ctx, static_cast<std::uint16_t>(core::close_code::policy_violation),
                          "unauthorized");
    return;
  }
  shard_metrics::add(ctx.metrics.auth_accepted);
  const std::int64_t expires_at = grant.expires_at;
  std::string subject = grant.subject;
  apply_grant(ctx, std::move(grant));
  ctx.scratch.clear();
  encode_authed(ctx.scratch, expires_at, subject, cmd.id);
  answer_now(ctx, ctx.scratch);
}

void pubsub_session::apply_grant(shard_context& ctx, auth_grant&& grant) {
  extras& a = extras_of(ctx);
  a.grants = std::move(grant.permissions);
  a.last_published.clear();
  a.awaiting_token = false;
  a.deadline = 0;
  if (grant.expires_at != 0) {
    // Closed when verification would refuse the token: at exp plus the allowed clock skew.
    const authenticator* auth = current_auth(ctx);
    const std::int64_t left = grant.expires_at + (auth ? auth->clock_skew_seconds() : 0) -
                              static_cast<std::int64_t>(std::time(nullptr));
    const std::uint64_t ticks = left > 0 ? static_cast<std::uint64_t>(left) * 1000 / tick_ms : 0;
    a.deadline = ctx.now + std::max<std::uint64_t>(ticks, 1);
  }
  for (subscription *sub = subs_, *next; sub; sub = next) {
    next = sub->next;
    if (a.grants->may_subscribe(sub->topic())) continue;
    std::string topic(sub->topic());
    leave(ctx, sub);
    ctx.scratch.clear();
    encode_unsubscribed(ctx.scratch, topic, {});
    answer_now(ctx, ctx.scratch);
  }
  conn_.deadline_changed(ctx);
}

void pubsub_session::on_deadline(shard_context& ctx) {
  extras_->deadline = 0;
  if (extras_->awaiting_token) {
    shard_metrics::add(ctx.metrics.auth_refused[0]);
    close_when_answered(ctx, static_cast<std::uint16_t>(core::close_code::policy_violation),
                        "no auth message within the handshake timeout");
    return;
  }
  shard_metrics::add(ctx.metrics.auth_expired);
  close_when_answered(ctx, close_token_expired, "token expired");
}

void pubsub_session::close_when_answered(shard_context& ctx, std::uint16_t code,
                                         std::string_view reason) {
  extras_->close_code = code;
  extras_->close_reason = reason;
  if (answers_.empty()) conn_.start_close(ctx, code, reason);
}

bool pubsub_session::within_limits(shard_context& ctx, std::size_t bytes, std::string_view id) {
  const std::uint64_t now = now_ms(ctx);
  const auto cost = static_cast<std::uint32_t>(std::min<std::size_t>(bytes, UINT32_MAX));
  extras& a = *extras_;
  if (a.messages.take(now) && a.bytes.take(now, cost)) return true;
  if (!a.strikes.take(now)) {
    shard_metrics::add(ctx.metrics.rate_limit_closes);
    close_when_answered(ctx, static_cast<std::uint16_t>(core::close_code::policy_violation),
                        "rate limit exceeded");
    return false;
  }
  shard_metrics::add(ctx.metrics.rate_limited);
  send_error_now(ctx, protocol_error_code::rate_limited,
                 "over this connection's rate limit (limits.messages_per_second, bytes_per_second); "
                 "not carried out",
                 id);
  return false;
}

}  // namespace shoal::gateway
