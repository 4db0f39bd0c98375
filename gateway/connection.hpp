// One client connection on a shard: its socket, its protocol state machine (PROXY header when
// behind a balancer → HTTP request → WebSocket open → closing → closed), its frame decoder, its
// output queue and buffered byte count, and its one timer. Shard-owned: created, used and destroyed on the shard's thread;
// neither copyable nor movable, since the shard and the timer wheel hold pointers to it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/proxy_header.hpp"
#include "gateway/conn_deflate.hpp"
#include "gateway/conn_pools.hpp"
#include "gateway/pubsub_session.hpp"
#include "gateway/reactor_backend.hpp"
#include "gateway/shard_context.hpp"
#include "gateway/shard_id.hpp"
#include "gateway/timer_wheel.hpp"
#include "gateway/tls_context.hpp"

namespace shoal::gateway {

enum class conn_state : std::uint8_t {
  http,       // reading an HTTP request (upgrade, or plain HTTP)
  open,       // WebSocket open
  closing,    // we sent a Close frame and wait for the peer's (or the close timeout)
  lingering,  // output flushed and FIN sent; reading until the peer's FIN (or the timeout)
  closed,     // socket closed; the shard frees the object
};

enum class endpoint : std::uint8_t { none, echo, pubsub };

// Why Shoal stopped reading a connection's input for now (bits; input resumes when none is left).
enum class conn_hold : std::uint8_t {
  hub = 1,      // its publishes' cross-shard queues are over their byte bound
  answers = 2,  // it has pubsub_session::max_unanswered requests unanswered
};

// The hub reaches a connection through hub_client: its pubsub_session (WebSocket), or the
// http_publish it is waiting on. The connection itself has no virtual functions: no vptr in
// every idle connection.
class connection {
 public:
  connection(int fd, std::uint64_t token, shard_context& ctx);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Reactor events. Each may close the connection (state() == closed afterwards).
  void on_readable(shard_context& ctx);
  void on_writable(shard_context& ctx);
  void on_hangup(shard_context& ctx);
  void on_timer(shard_context& ctx);
  // Writes queued output with one gather write (more only if the first was complete and more
  // is queued than one call takes). On io_uring the write is queued and on_sent() finishes it.
  void flush(shard_context& ctx);
  // io_uring completions: bytes received (or the receive's end: EOF, error, stopped) and the
  // result of the send flush() queued.
  void on_received(shard_context& ctx, const io_event& ev);
  void on_sent(shard_context& ctx, int result);

  // Makes this an operator connection (admin listener): /healthz, /readyz and /metrics only,
  // and not counted in server_state::connections (limits.max_connections).
  void make_admin() noexcept { admin_ = true; }

  // The connection starts with a PROXY protocol header (server.proxy_protocol); the per-address
  // limits are applied to the address it names.
  void expect_proxy_header() noexcept { awaiting_proxy_ = true; }

  // Per-address limits (ctx.server.addresses set): counts the connection against `address`
  // until the shard frees it, or, over a limit, marks it so that its request gets 429
  // (Retry-After) and nothing else.
  void count_address(shard_context& ctx, const address_limits::key& address);

  // Makes this a TLS connection (a TLS listener accepted it): every byte in and out goes
  // through `ssl`, which the connection owns from now on.
  void attach_tls(SSL* ssl) noexcept { tls_ = ssl; }

  // Starts the closing handshake with `code` (used for shutdown and timeouts).
  void start_close(shard_context& ctx, std::uint16_t code, std::string_view reason);
  // Closes the socket now, without a closing handshake.
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

  conn_state state() const noexcept { return state_; }
  int fd() const noexcept { return fd_; }
  std::uint64_t token() const noexcept { return token_; }
  timer_node& timer() noexcept { return timer_; }
  std::size_t buffered() const noexcept { return out_ ? out_->queue.buffered() : 0; }
  bool in_dirty_list : 1 = false;
  bool in_read_again_list : 1 = false;

 private:
  // Input by state.
  void process(shard_context& ctx, std::span<std::uint8_t> bytes);
  // Decodes the bytes kept in input_state::pending (behind an HTTP publish, or a hold).
  void process_pending(shard_context& ctx);
  std::size_t process_http(shard_context& ctx, std::span<std::uint8_t> bytes);
  std::size_t process_proxy(shard_context& ctx, std::span<std::uint8_t> bytes);
  // TLS: takes the PROXY header off the socket before OpenSSL reads it; true once it has.
  [[gnu::noinline]] bool read_proxy_before_tls(shard_context& ctx);
  // The header's source becomes the client's address for the per-address limits.
  void accept_proxy_header(shard_context& ctx, const core::proxy_header& header);
  std::size_t process_frames(shard_context& ctx, std::span<std::uint8_t> bytes);
  std::size_t process_body(shard_context& ctx, std::span<std::uint8_t> bytes);
  void on_message(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  bool input_stopped() const noexcept { return read_paused_ || held_ != 0; }
  void finish_http_request(shard_context& ctx, bool keep_alive);
  [[gnu::noinline]] void refuse_for_address(shard_context& ctx);
  void on_message_chunk(shard_context& ctx, const core::decode_event& ev);
  void on_compressed_chunk(shard_context& ctx, const core::decode_event& ev);
  void on_control(shard_context& ctx, const core::decode_event& ev);
  void fail(shard_context& ctx, core::protocol_error err);
  // TLS (tls_ set): reading and writing through OpenSSL, out of line from the plain path.
  [[gnu::noinline]] void on_tls_readable(shard_context& ctx);
  [[gnu::noinline]] bool write_tls(shard_context& ctx);  // false if the connection was aborted
  void tls_progress(shard_context& ctx);
  void on_eof(shard_context& ctx);

  // Output.
  void queue_frame(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  void queue_bytes(shard_context& ctx, std::string_view bytes);
  // permessage-deflate: queues `payload` compressed; false if it is better sent plain.
  bool queue_compressed(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  [[gnu::noinline]] void queue_broadcast_deflate(shard_context& ctx, local_frame* frame);
  // Puts the connection on the shard's flush list. The buffered-bytes gauge is synced once per
  // flush, not per queued frame (callgrind showed the per-delivery gauge update as a tenth of
  // the fan-out cost). Backpressure: above the high watermark, stop reading from this peer;
  // TCP slows it down.
  void mark_dirty(shard_context& ctx, std::size_t queued) {
    if (!read_paused_ && queued > ctx.settings.high_watermark) [[unlikely]] pause_reading(ctx);
    if (!in_dirty_list) enqueue_dirty(ctx);  // out of line: keeps the per-delivery path lean
  }
  [[gnu::noinline]] void enqueue_dirty(shard_context& ctx);
  void mark_dirty(shard_context& ctx) { mark_dirty(ctx, buffered()); }
  void pause_reading(shard_context& ctx);
  bool write_out(shard_context& ctx);  // false if the connection was aborted
  void send_uring(shard_context& ctx);
  void after_write(shard_context& ctx);  // watermarks, held-back deliveries, what comes next
  void after_flush(shard_context& ctx);
  void reschedule(shard_context& ctx);
  void sync_buffered(shard_context& ctx);
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
  void release_output(shard_context& ctx);
  // Ticks are kept as 32-bit values (497 days at 10 ms); differences are taken modulo 2^32.
  static std::uint32_t tick32(std::uint64_t now) noexcept { return static_cast<std::uint32_t>(now); }
  static std::uint64_t since(const shard_context& ctx, std::uint32_t then_tick) noexcept {
    return static_cast<std::uint32_t>(tick32(ctx.now) - then_tick);
  }

  // Laid out small: an idle connection is this object alone (see bench/RESULTS.md, memory).
  int fd_;
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
  bool read_paused_ : 1 = false;
  bool write_blocked_ : 1 = false;
  bool tls_ready_ : 1 = false;             // the TLS handshake completed
  bool tls_read_wants_write_ : 1 = false;  // SSL_read must be retried once writable
  bool tls_write_wants_read_ : 1 = false;  // SSL_write must be retried once readable
  bool receiving_ : 1 = false;             // io_uring: a multishot receive is armed
  bool send_in_flight_ : 1 = false;        // io_uring: flush() queued a send, on_sent() is due
  std::uint8_t held_ : 2 = 0;              // conn_hold bits
  bool admin_ : 1 = false;                 // accepted on an admin listener
  std::uint8_t address_refusal_ : 2 = 0;   // an address_verdict other than admitted
  bool awaiting_proxy_ : 1 = false;        // the PROXY header has not been read yet
  [[no_unique_address]] owner_check owner_;
  std::uint64_t token_;
  timer_node timer_;
  std::uint32_t last_rx_ = 0;        // tick of the last frame received
  std::uint32_t ping_sent_ = 0;      // tick of the last ping
  std::uint32_t phase_started_ = 0;  // tick the current state began (handshake, closing)
  std::unique_ptr<input_state> in_;    // while reading a request, a split frame or a message
  std::unique_ptr<output_state> out_;  // while bytes are queued
  std::unique_ptr<pubsub_session> session_;  // /ws, from its first message
  std::unique_ptr<conn_deflate> deflate_;    // permessage-deflate was agreed
  SSL* tls_ = nullptr;                       // a TLS connection
  // TLS: bytes of an SSL_write to retry (OpenSSL wants the same length); io_uring: bytes of the
  // send in flight (a shorter result means the socket is full).
  std::uint32_t write_len_ = 0;
};

}  // namespace shoal::gateway
