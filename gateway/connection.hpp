// One client connection on a shard: its socket, its protocol state machine (HTTP request →
// WebSocket open → closing → closed), its frame decoder, its output queue and buffered byte
// count, and its one timer. Shard-owned: created, used and destroyed on the shard's thread;
// neither copyable nor movable, since the shard and the timer wheel hold pointers to it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/frame_decoder.hpp"
#include "gateway/out_queue.hpp"
#include "gateway/pubsub_session.hpp"
#include "gateway/shard_context.hpp"
#include "gateway/shard_id.hpp"
#include "gateway/timer_wheel.hpp"

namespace shoal::core {
class http_request_parser;
}

namespace shoal::gateway {

enum class conn_state : std::uint8_t {
  http,       // reading an HTTP request (upgrade, or plain HTTP)
  open,       // WebSocket open
  closing,    // we sent a Close frame and wait for the peer's (or the close timeout)
  lingering,  // output flushed and FIN sent; reading until the peer's FIN (or the timeout)
  closed,     // socket closed; the shard frees the object
};

enum class endpoint : std::uint8_t { none, echo, pubsub };

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
  // is queued than one call takes).
  void flush(shard_context& ctx);

  // Starts the closing handshake with `code` (used for shutdown and timeouts).
  void start_close(shard_context& ctx, std::uint16_t code, std::string_view reason);
  // Closes the socket now, without a closing handshake.
  void abort(shard_context& ctx);

  // Pub/sub (/ws) and the HTTP publish API.
  pubsub_session* session() noexcept { return session_.get(); }
  void queue_text(shard_context& ctx, std::string_view json);
  void queue_broadcast(shard_context& ctx, local_frame* frame);
  void on_http_publish_result(shard_context& ctx, std::string_view topic, std::uint64_t seq);

  conn_state state() const noexcept { return state_; }
  int fd() const noexcept { return fd_; }
  std::uint64_t token() const noexcept { return token_; }
  timer_node& timer() noexcept { return timer_; }
  std::size_t buffered() const noexcept { return out_.buffered(); }
  bool in_dirty_list = false;
  bool in_read_again_list = false;

 private:
  // Input by state.
  void process(shard_context& ctx, std::span<std::uint8_t> bytes);
  std::size_t process_http(shard_context& ctx, std::span<std::uint8_t> bytes);
  std::size_t process_frames(shard_context& ctx, std::span<std::uint8_t> bytes);
  std::size_t process_body(shard_context& ctx, std::span<std::uint8_t> bytes);
  void on_message(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  void finish_http_request(shard_context& ctx, bool keep_alive);
  void on_message_chunk(shard_context& ctx, const core::decode_event& ev);
  void on_control(shard_context& ctx, const core::decode_event& ev);
  void fail(shard_context& ctx, core::protocol_error err);
  void on_eof(shard_context& ctx);

  // Output.
  void queue_frame(shard_context& ctx, core::opcode op, std::span<const std::uint8_t> payload);
  void queue_bytes(shard_context& ctx, std::string_view bytes);
  void mark_dirty(shard_context& ctx);
  void after_flush(shard_context& ctx);
  void reschedule(shard_context& ctx);
  void sync_buffered(shard_context& ctx);
  void enter(shard_context& ctx, conn_state next);

  int fd_;
  std::uint64_t token_;
  conn_state state_ = conn_state::http;
  endpoint endpoint_ = endpoint::none;
  // What to do once the output queue is empty.
  enum class then : std::uint8_t {
    keep_open,
    linger,  // half-close (FIN) and read until the peer's FIN, so the peer sees our last bytes
    close,   // close the socket (the peer has finished its side)
  };
  then after_flush_ = then::keep_open;
  bool input_done_ = false;  // ignore further input (a refusal or a close is on its way)
  bool close_sent_ = false;
  bool ping_outstanding_ = false;
  bool read_paused_ = false;
  bool write_blocked_ = false;
  owner_check owner_;
  timer_node timer_;
  std::uint64_t last_rx_ = 0;        // tick of the last frame received
  std::uint64_t ping_sent_ = 0;      // tick of the last ping
  std::uint64_t phase_started_ = 0;  // tick the current state began (handshake, closing)
  std::unique_ptr<core::http_request_parser> http_;  // only while reading HTTP
  core::frame_decoder decoder_;
  std::vector<std::uint8_t> message_;  // a fragmented message being assembled
  core::opcode message_op_ = core::opcode::text;
  out_queue out_;
  std::size_t reported_buffered_ = 0;
  std::unique_ptr<pubsub_session> session_;  // /ws only
  // HTTP publish: the body being read, then the wait for the home shard's answer. Bytes of a
  // pipelined next request that arrive meanwhile wait in pending_input_.
  struct http_publish {
    std::string topic;
    std::string content_type;
    std::string body;
    std::size_t remaining = 0;
    bool keep_alive = true;
    bool awaiting = false;
  };
  std::unique_ptr<http_publish> publish_;
  std::string pending_input_;  // out_.buffered() as last added to the shard's gauge
};

}  // namespace shoal::gateway
