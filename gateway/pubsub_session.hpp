// The pub/sub side of one /ws connection (subprotocol shoal.v1): its subscriptions, the
// slow-consumer policy applied to each delivery, its answers in request order, and the client
// commands it turns into calls on the shard's pubsub_hub, whose hub_client it is. Owned by its
// connection; shard-owned like it.
//
// Answers in order. Every request gets a ticket; answers computed at once (errors, unsubscribed)
// and answers from home shards (acks, subscribed) leave in ticket order: one that arrives early
// waits in answers_ until those before it are out. A subscription answered early is `held`: its
// messages wait with it (bounded by the slow-consumer limit), so "subscribed" always precedes
// them. In the usual case (answers arriving in order) nothing waits and nothing is allocated.
//
// Access (README "Security"). With authentication on, the session holds what the client's token
// grants (shared, immutable topic patterns) and a deadline: the first `auth` message's (when the
// upgrade carried no token) or the token's expiry. With rate limits on, token buckets over its
// messages and bytes. Both live in the session's extras, allocated only when one is on (or when
// messages are held with an early answer): with auth off and no limits a session pays one null
// pointer, and a message one test of it.
//
// Size. A session is 48 bytes, one per subscribed connection, so what only some sessions need
// lives elsewhere: subscriptions in a list, answers in an array held only while requests wait,
// and the rest in extras (with the backlogs of slow or held subscriptions). A subscription is 40.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/token_bucket.hpp"
#include "core/topic_pattern.hpp"
#include "gateway/authenticator.hpp"
#include "gateway/config.hpp"
#include "gateway/hub_client.hpp"
#include "gateway/local_frame.hpp"
#include "gateway/pubsub_protocol.hpp"
#include "gateway/ring_queue.hpp"
#include "gateway/shard_context.hpp"

namespace shoal::gateway {

class connection;
class pubsub_hub;

class pubsub_session final : public hub_client {
 public:
  // Requests a connection may have unanswered; past it Shoal stops reading from it until half
  // are answered (each waiting answer costs memory, so a pipelining client is bounded here).
  static constexpr std::size_t max_unanswered = 4096;

  // `settings` turns the rate limits on.
  pubsub_session(connection& conn, shard_context& ctx);
  ~pubsub_session();
  pubsub_session(const pubsub_session&) = delete;
  pubsub_session& operator=(const pubsub_session&) = delete;

  // A complete text message from the client.
  void on_text(shard_context& ctx, std::string_view text);
  // Called when the connection's buffered bytes fell below the slow-consumer limit: sends the
  // gap notices and conflated messages held back.
  void on_drained(shard_context& ctx);
  bool has_held_back() const noexcept { return held_back_ != 0; }
  // The connection is closing: leave every topic.
  void leave_all(shard_context& ctx);
  subscription* find(std::string_view topic) noexcept;

  // Authentication is on for this connection: `grant` is what the upgrade's token granted, or
  // none if the client must authenticate with its first message, before the handshake timeout.
  void start_auth(shard_context& ctx, std::optional<auth_grant> grant);
  // The tick at which on_deadline() is due, 0 for none.
  std::uint64_t deadline() const noexcept { return extras_ ? extras_->deadline : 0; }
  // Closes the connection: 1008 if no token came in time, 4001 if the token expired.
  void on_deadline(shard_context& ctx);

  // hub_client
  void deliver(shard_context& ctx, subscription& sub, local_frame* frame) override;
  void missed(shard_context& ctx, subscription& sub, std::uint64_t from, std::uint64_t to) override;
  void published(shard_context& ctx, std::unique_ptr<publish_job> job) override;
  void subscribed(shard_context& ctx, std::unique_ptr<subscribe_job> job) override;
  void resume_input(shard_context& ctx) override;

 private:
  // One request's answer, in ticket order.
  struct answer {
    std::string text;                        // ready: the answer as sent
    std::unique_ptr<subscribe_job> sub_job;  // ready: a subscribe to activate when sent
    subscription* sub = nullptr;             // a subscribe's subscription, until it leaves
    bool ready = false;
  };

  // The position in answers_ of `ticket`'s answer.
  std::size_t ticket_index(std::uint64_t ticket) const noexcept {
    return static_cast<std::uint32_t>(ticket - first_ticket_);
  }
  // Takes a ticket for a request answered later.
  std::uint64_t take_ticket(shard_context& ctx, subscription* sub);
  // Queues an answer slot, holding the client's input while too many wait.
  void keep(shard_context& ctx, answer&& a);
  // The answer for `ticket` is `text`: sent now if nothing is before it, else kept.
  void answer_with(shard_context& ctx, std::uint64_t ticket, std::string_view text);
  // An answer computed at once: after every earlier answer.
  void answer_now(shard_context& ctx, std::string_view text);
  void send_error_now(shard_context& ctx, protocol_error_code code, std::string_view message,
                      std::string_view id, std::string_view topic = {});
  // Sends the ready answers at the front.
  void release_ready(shard_context& ctx);
  void activate(shard_context& ctx, subscription& sub, subscribe_job& job);
  void subscribe(shard_context& ctx, const client_command& cmd);
  void authenticate(shard_context& ctx, const client_command& cmd);
  // Authentication on: true if the grant allows `cmd`; false if it was answered here (an `auth`
  // command, or a refusal).
  [[gnu::noinline]] bool authorized(shard_context& ctx, const client_command& cmd);
  // Takes what `grant` allows: its topics, its expiry as the deadline; drops subscriptions it
  // no longer allows (a refreshed token with fewer topics), answering `unsubscribed` for each.
  void apply_grant(shard_context& ctx, auth_grant&& grant);
  // Rate limits: false if this message is over them (answered here; may close the connection).
  [[gnu::noinline]] bool within_limits(shard_context& ctx, std::size_t bytes, std::string_view id);
  // Closes the connection with `code` once every request before is answered (an ack owed for
  // an accepted publish is still sent); input after this is not carried out.
  void close_when_answered(shard_context& ctx, std::uint16_t code, std::string_view reason);
  [[gnu::noinline]] void hold_delivery(shard_context& ctx, subscription& sub, local_frame* frame);
  [[gnu::noinline]] void over_limit(shard_context& ctx, subscription& sub, local_frame* frame);
  [[gnu::noinline]] void catch_up(shard_context& ctx, subscription& sub);
  void hold_gap(shard_context& ctx, subscription& sub, std::uint64_t from, std::uint64_t to);
  // What a subscription holds back: its messages while its answer waits (state held), a slow
  // consumer's dropped range or conflated message. Kept in extras, only while it holds anything
  // (subscription::backlogged says there is one), so a subscriber in step pays one bit.
  struct sub_backlog {
    subscription* owner = nullptr;
    std::uint64_t gap_from = 0;        // dropped (not yet reported) range; 0 = none
    std::uint64_t gap_to = 0;
    local_frame* conflated = nullptr;  // conflate policy: the newest message held back
    std::vector<local_frame*> held;    // state held: messages after the answer, in order
    std::size_t held_bytes = 0;
    bool holds_back() const noexcept { return gap_from != 0 || conflated; }
    bool empty() const noexcept { return !holds_back() && held.empty(); }
  };
  // The subscription's backlog, or null.
  sub_backlog* backlog(const subscription& sub) noexcept;
  // The subscription's backlog, made if it has none.
  sub_backlog& backlog_of(shard_context& ctx, subscription& sub);
  // Takes the subscription's backlog out (null if none).
  std::unique_ptr<sub_backlog> take_backlog(subscription& sub) noexcept;
  bool holds_back(const subscription& sub) noexcept;
  // Sends the gap notice held in `b` (the backlog of `sub`), if any.
  void send_gap(shard_context& ctx, const subscription& sub, sub_backlog& b);
  // Drops what `sub` holds (messages, conflated message) and forgets its answer's link to it.
  void release_held(subscription& sub);
  // Pops the front answer; an empty queue gives its array back.
  void pop_answer() noexcept;
  // Unsubscribes from the hub, drops what was held back, and forgets the subscription.
  void leave(shard_context& ctx, subscription* sub);
  // Unlinks `sub` from subs_ and deletes it.
  void erase(subscription* sub);

  connection& conn_;
  // Owned, in subscription order, linked through subscription::next (a list head rather than a
  // vector: one pointer in the session, none per subscription beyond the link).
  subscription* subs_ = nullptr;
  // Tickets first_ticket_ .. first_ticket_ + size - 1. Its array is given back whenever it
  // empties (ring_queue::release: to the shard thread's spares), so a subscriber whose subscribe
  // was answered holds none, and a publisher's request takes one from the spares and returns it.
  ring_queue<answer, 2> answers_;
  // Tickets are counted modulo 2^32: fewer than max_unanswered wait at any time, so the
  // distance from a ticket to the first is exact (ticket_index()).
  std::uint32_t first_ticket_ = 0;
  std::uint32_t held_back_ = 0;    // subscriptions with a pending gap notice or conflated frame
  // What few sessions need: authentication and rate limits when either is on, and the backlogs
  // of subscriptions that hold something back (with the bytes of messages held for answers).
  struct extras {
    std::shared_ptr<const core::topic_permissions> grants;  // null: authentication off
    std::uint64_t deadline = 0;     // tick; 0 = none
    bool awaiting_token = false;    // no token yet: only `auth` is answered
    bool limited = false;           // a rate limit is on
    core::token_bucket messages;
    core::token_bucket bytes;
    core::token_bucket strikes;     // refusals left before the connection is closed
    std::string last_published;     // the last topic grants allowed a publish on
    std::uint16_t close_code = 0;   // non-zero: closing once the answers owed are out
    std::string_view close_reason;  // static text
    std::size_t held_bytes = 0;     // bytes of the messages held with early answers (all subs)
    std::vector<std::unique_ptr<sub_backlog>> backlogs;  // of the subscriptions backlogged
  };
  extras& extras_of(shard_context& ctx);
  std::unique_ptr<extras> extras_;
};

}  // namespace shoal::gateway
