// One client connection on a shard, above its transport: the protocol state machine (PROXY
// header when behind a balancer → HTTP requests → WebSocket open → closing → closed), its output
// queue and buffered byte count, its one timer. The phases live in their own files:
// connection.cpp (the shell: transport events, output, backpressure, timers, the one close
// path), connection_http.cpp (the HTTP session: PROXY header, requests, keep-alive, endpoints,
// the HTTP publish, the upgrade), connection_ws.cpp (the WebSocket session: frames, fragments,
// inflate, control frames, the closing handshake, heartbeats). Shard-owned: created, used and
// destroyed on the shard's thread; not copyable nor movable (the shard and the timer wheel hold
// pointers to it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/proxy_header.hpp"
#include "gateway/conn_deflate.hpp"
#include "gateway/conn_pools.hpp"
#include "gateway/pubsub_session.hpp"
#include "gateway/shard_context.hpp"
#include "gateway/shard_id.hpp"
#include "gateway/timer_wheel.hpp"
#include "gateway/transport.hpp"

namespace shoal::gateway {

struct route_result;
class conn_user;

// The connection's state. The allowed transitions (checked by connection::enter):
//   http      → http (keep-alive: the next request), open (upgrade), lingering (a response
//               that ends the connection is written), closed
//   open      → closing (a Close sent: ours, or the answer to the peer's), closed
//   closing   → lingering (our Close written after a failure: FIN, wait for the peer's), closed
//   lingering → closed
//   closed    (final; the shard frees the object at the end of the pass)
enum class conn_state : std::uint8_t { http, open, closing, lingering, closed };

// True if `from` → `to` is one of the transitions above.
constexpr bool allowed_transition(conn_state from, conn_state to) noexcept {
  switch (from) {
    case conn_state::http:
      return to != conn_state::closing;
    case conn_state::open:
      return to == conn_state::closing || to == conn_state::closed;
    case conn_state::closing:
      return to == conn_state::lingering || to == conn_state::closed;
    case conn_state::lingering:
      return to == conn_state::closed;
    case conn_state::closed:
      return false;
  }
  return false;
}

enum class endpoint : std::uint8_t { none, echo, pubsub };

// Why Shoal stopped reading a connection's input for now (bits; input resumes when none is left).
enum class conn_hold : std::uint8_t {
  hub = 1,      // its publishes' cross-shard queues are over their byte bound
  answers = 2,  // it has pubsub_session::max_unanswered requests unanswered
};

// The hub reaches a connection through hub_client: its pubsub_session (WebSocket), or the
// http_publish it is waiting on. The connection itself has no virtual functions: no vptr in
// every idle connection (its transport's user is one shared adapter, connection::user()).
// Its timer node is a base rather than a member, so the wheel's expiry gives the connection back
// by a static_cast (of_timer) where a member needed a pointer back: 8 bytes per connection.
class connection : private timed {
 public:
  // `fd` accepted on a listener whose connections use transport `kind`.
  connection(int fd, std::uint64_t token, transport_kind kind, shard_context& ctx);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // What every transport reports to (stateless; one for all connections; conn_user.hpp).
  static conn_user& user() noexcept;

  // Starts the transport (TLS: its session) and reads what may already be waiting. May close.
  void start(shard_context& ctx);
  // A reactor event for this connection's descriptor.
  void on_event(shard_context& ctx, const io_event& ev) {
    owner_.check();
    io_transport(ctx).on_event(ctx, *this, ev);
  }
  // An io_uring send of this connection's completed (bytes written, or -errno).
  void on_sent(shard_context& ctx, int result) {
    owner_.check();
    io_transport(ctx).on_sent(ctx, *this, result);
  }
  // Input again: the read budget was used, a hold ended, or reading was paused and resumed.
  void on_readable(shard_context& ctx);
  void on_timer(shard_context& ctx);
  // Writes queued output through the transport (one gather write per pass).
  void flush(shard_context& ctx);

  // Makes this an operator connection (admin listener): /healthz, /readyz and /metrics only,
  // and not counted in server_state::connections (limits.max_connections).
  void make_admin() noexcept { admin_ = true; }
  // The connection starts with a PROXY protocol header (server.proxy_protocol); the per-address
  // limits are applied to the address it names.
  void expect_proxy_header() noexcept { awaiting_proxy_ = true; }
  bool awaiting_proxy() const noexcept { return awaiting_proxy_; }
  // Takes the PROXY header off the front of `bytes` (for a transport that reads it before its
  // own stream: TLS); returns the bytes used. May close the connection (a bad header).
  std::size_t take_proxy_header(shard_context& ctx, std::span<std::uint8_t> bytes);
  // Per-address limits (ctx.server.addresses set): counts the connection against `address`
  // until the shard frees it, or, over a limit, marks it so that its request gets 429
  // (Retry-After) and nothing else.
  void count_address(shard_context& ctx, const address_limits::key& address);

  // Starts the closing handshake with `code` (used for shutdown and timeouts).
  void start_close(shard_context& ctx, std::uint16_t code, std::string_view reason);
  // Closes the connection now, without a closing handshake: the one place a connection ends.
  void abort(shard_context& ctx);

  // Pub/sub (/ws) and the HTTP publish API.
  pubsub_session* session() noexcept { return session_.get(); }
  // The session's deadline (pubsub_session::deadline) changed: the timer follows it.
  void deadline_changed(shard_context& ctx) {
    if (state_ == conn_state::open) reschedule(ctx);
  }
  void queue_text(shard_context& ctx, std::string_view json);
  void queue_broadcast(shard_context& ctx, local_frame* frame) {
    if (close_sent_) return;
    if (deflate_) [[unlikely]] {
      queue_broadcast_deflate(ctx, frame);
      return;
    }
    out_queue& q = output(ctx);
    q.append_shared(frame);
    shard_metrics::add(ctx.metrics.messages_out);
    mark_dirty(ctx, q.buffered());
  }
  // True if broadcasts to this connection may use their shared compressed variant.
  bool takes_compressed_broadcast() const noexcept {
    return deflate_ && deflate_->takes_broadcast_variant();
  }
  // The hub's client for this connection: its session (WebSocket), or the HTTP publish it
  // awaits; null if neither (the answer has nobody to go to).
  hub_client* client() noexcept {
    if (session_) return session_.get();
    if (in_ && in_->publish && in_->publish->awaiting) return in_->publish.get();
    return nullptr;
  }
  // Stops / resumes reading input for `why` (see conn_hold). Input already read waits, undecoded.
  void hold_input(shard_context& ctx, conn_hold why);
  void release_hold(shard_context& ctx, conn_hold why);

  // The home shard's answer to an HTTP publish: its sequence number, or why it was refused
  // with `status` (retry_later: adds Retry-After, for full queues or an unavailable cluster).
  void answer_http_publish(shard_context& ctx, std::string_view topic, std::uint64_t seq,
                           const char* refused, bool retry_later, std::uint16_t status = 503);

  // For transports: the connection's share of its transport, reading again next pass, and
  // writing on this pass's flush.
  io_link& io() noexcept { return link_; }
  const io_link& io() const noexcept { return link_; }
  void read_later(shard_context& ctx) {
    if (in_read_again_list) return;
    in_read_again_list = true;
    ctx.read_again.push_back(this);
  }
  void request_flush(shard_context& ctx) {
    if (!in_dirty_list) enqueue_dirty(ctx);
  }

  conn_state state() const noexcept { return state_; }
  std::uint64_t token() const noexcept { return token_; }
  static connection& of_timer(timer_node& node) noexcept {
    return static_cast<connection&>(timed::of(node));
  }
  std::size_t buffered() const noexcept { return out_ ? out_->queue.buffered() : 0; }

 private:
  friend class conn_user;

  transport& io_transport(shard_context& ctx) const noexcept { return *ctx.transports[link_.kind]; }
  bool input_stopped() const noexcept { return read_paused_ || held_ != 0; }

  // Input, by phase (connection.cpp dispatches; the phases' files do the work). on_bytes is
  // what a transport reports; inline, so that the plain transports' read path makes one call
  // (process), not two.
  void on_bytes(shard_context& ctx, std::span<std::uint8_t> bytes) {
    shard_metrics::add(ctx.metrics.bytes_in, bytes.size());
    if (input_done_) return;
    // Input kept at a hold that has ended comes first: the transport may read new bytes before
    // the read-again pass that would have decoded it (a readiness event, a receive in flight).
    if (in_ && !in_->pending.empty() && !(in_->publish && in_->publish->awaiting)) [[unlikely]] {
      process_pending(ctx);
      if (state_ == conn_state::closed) return;
    }
    process(ctx, bytes);
  }
  void process(shard_context& ctx, std::span<std::uint8_t> bytes);
  // Decodes the bytes kept in input_state::pending (behind an HTTP publish, or a hold).
  void process_pending(shard_context& ctx);

  // The HTTP session (connection_http.cpp).
  std::size_t process_proxy(shard_context& ctx, std::span<std::uint8_t> bytes);
  void accept_proxy_header(shard_context& ctx, const core::proxy_header& header);
  std::size_t process_http(shard_context& ctx, std::span<std::uint8_t> bytes);
  void upgrade(shard_context& ctx, route_result& route);
  std::size_t process_body(shard_context& ctx, std::span<std::uint8_t> bytes);
  void finish_http_request(shard_context& ctx, bool keep_alive);
  [[gnu::noinline]] void refuse_for_address(shard_context& ctx);
  // Ends the connection once the response queued now is written (FIN, then the peer's).
  void end_after_response(shard_context& ctx);

  // The WebSocket session (connection_ws.cpp).
  std::size_t process_frames(shard_context& ctx, std::span<std::uint8_t> bytes);
  void on_message_chunk(shard_context& ctx, const core::decode_event& ev);
  void on_compressed_chunk(shard_context& ctx, const core::decode_event& ev);
  void on_message(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  void on_control(shard_context& ctx, const core::decode_event& ev);
  void fail(shard_context& ctx, core::protocol_error err);
  // Queues our Close frame (once: it is the last frame we send, §5.5.1) and counts its code.
  void send_close(shard_context& ctx, std::uint16_t code, std::string_view reason);
  // The WebSocket's timers: handshake deadline of a session, heartbeat, idle timeout.
  void on_open_timer(shard_context& ctx);
  std::uint64_t open_due(const shard_context& ctx) const;
  void queue_frame(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  // permessage-deflate: queues `payload` compressed; false if it is better sent plain.
  bool queue_compressed(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  [[gnu::noinline]] void queue_broadcast_deflate(shard_context& ctx, local_frame* frame);

  // Output (connection.cpp).
  void queue_bytes(shard_context& ctx, std::string_view bytes);
  // Puts the connection on the shard's flush list. The buffered-bytes gauge is synced once per
  // flush, not per queued frame (callgrind showed the per-delivery gauge update as a tenth of
  // the fan-out cost). Backpressure: above the high watermark, stop reading from this peer;
  // TCP slows it down.
  void mark_dirty(shard_context& ctx, std::size_t queued) {
    if (!read_paused_ && queued > ctx.settings.high_watermark) [[unlikely]] pause_reading(ctx);
    if (!in_dirty_list) enqueue_dirty(ctx);  // out of line: keeps the per-delivery path lean
  }
  void mark_dirty(shard_context& ctx) { mark_dirty(ctx, buffered()); }
  [[gnu::noinline]] void enqueue_dirty(shard_context& ctx);
  void pause_reading(shard_context& ctx);
  // `n` bytes of the output were written. Inline, with the gauge's sync: the plain transports
  // call it on every write (conn_user.hpp), and a call per layer showed in the echo's profile.
  void on_written(shard_context& ctx, std::size_t n) {
    if (state_ == conn_state::closed) [[unlikely]] {
      written_after_close(ctx);
      return;
    }
    if (n != 0) {
      shard_metrics::add(ctx.metrics.writes);
      shard_metrics::add(ctx.metrics.bytes_out, n);
      out_->queue.consume(n);
    }
    sync_buffered(ctx);
    after_write(ctx);
  }
  void written_after_close(shard_context& ctx);
  void after_write(shard_context& ctx);  // watermarks, held-back deliveries, what comes next
  void after_flush(shard_context& ctx);
  // The shard's buffered-bytes gauge follows this connection's queue.
  void sync_buffered(shard_context& ctx) {
    if (!out_) return;
    const std::size_t now = out_->queue.buffered();
    std::size_t& reported = out_->reported;
    if (now > reported) shard_metrics::add(ctx.metrics.buffered_bytes, now - reported);
    else shard_metrics::sub(ctx.metrics.buffered_bytes, reported - now);
    reported = now;
  }
  void reschedule(shard_context& ctx);
  void enter(shard_context& ctx, conn_state next);

  // Input and output state, taken from the shard's pools while busy (see conn_pools.hpp).
  input_state& input(shard_context& ctx);
  void release_input(shard_context& ctx);
  // Inline: on the per-delivery path the state is usually there already.
  out_queue& output(shard_context& ctx) {
    if (!out_) [[unlikely]] take_output(ctx);
    return out_->queue;
  }
  void take_output(shard_context& ctx);
  // Only an empty queue whose bytes the gauge no longer counts, and no send in flight, goes back.
  // Inline: every write that empties the queue comes here (out of line, callgrind counted 34
  // instructions per echo in it).
  void release_output(shard_context& ctx) {
    if (out_ && out_->queue.empty() && out_->reported == 0 && !link_.send_in_flight)
      ctx.pools.outputs.give(std::move(out_));
  }
  // Ticks are kept as 32-bit values (497 days at 10 ms); differences are taken modulo 2^32.
  static std::uint32_t tick32(std::uint64_t now) noexcept { return static_cast<std::uint32_t>(now); }
  static std::uint64_t since(const shard_context& ctx, std::uint32_t then_tick) noexcept {
    return static_cast<std::uint32_t>(tick32(ctx.now) - then_tick);
  }

  // Laid out small: an idle connection is this object alone (see bench/RESULTS.md, memory).
  io_link link_;
  conn_state state_ = conn_state::http;
  endpoint endpoint_ = endpoint::none;
  // What to do once the output queue is empty.
  enum class then : std::uint8_t {
    keep_open,
    linger,  // half-close (FIN) and read until the peer's FIN, so the peer sees our last bytes
    close,   // close the socket (the peer has finished its side)
  };
  then after_flush_ = then::keep_open;
  bool input_done_ : 1 = false;  // ignore further input (a refusal or a close is on its way)
  bool close_sent_ : 1 = false;
  bool ping_outstanding_ : 1 = false;
  bool read_paused_ : 1 = false;           // above the high watermark
  std::uint8_t held_ : 2 = 0;              // conn_hold bits
  bool admin_ : 1 = false;                 // accepted on an admin listener
  bool awaiting_proxy_ : 1 = false;        // the PROXY header has not been read yet
  std::uint8_t address_refusal_ : 2 = 0;   // an address_verdict other than admitted
 public:
  // The shard's lists of this pass (ctx.dirty, ctx.read_again) hold the connection. Kept with the
  // other flags: a byte of its own in front of link_ cost 8 bytes of padding per connection.
  bool in_dirty_list : 1 = false;
  bool in_read_again_list : 1 = false;

 private:
  [[no_unique_address]] owner_check owner_;
  std::uint64_t token_;
  std::uint32_t last_rx_ = 0;        // tick of the last frame received
  std::uint32_t ping_sent_ = 0;      // tick of the last ping
  std::uint32_t phase_started_ = 0;  // tick the current state began (handshake, closing)
  std::unique_ptr<input_state> in_;    // while reading a request, a split frame or a message
  std::unique_ptr<output_state> out_;  // while bytes are queued
  std::unique_ptr<pubsub_session> session_;  // /ws, from its first message
  std::unique_ptr<conn_deflate> deflate_;    // permessage-deflate was agreed
};

}  // namespace shoal::gateway
