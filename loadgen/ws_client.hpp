// One client WebSocket connection, non-blocking: connect, TLS for wss:// (OpenSSL, the target's
// shared client context), the opening handshake (RFC 6455 §4.1, with Sec-WebSocket-Accept checked), frames out (masked by core::frame_encoder) and in
// (core::frame_decoder, client role), with permessage-deflate when the target asks for it (each
// thread's clients share one compressor and one decompressor: no context takeover). A JWT
// (issue 16) goes in the upgrade request or, with token_placement::message, in a first message
// whose "authed" answer is awaited before the handler hears on_open. Owned and used by one worker
// thread; never throws.
// Outgoing frames are queued in out_ and written by flush(), once per loop pass.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/frame.hpp"
#include "core/frame_decoder.hpp"
#include "core/frame_encoder.hpp"
#include "core/permessage_deflate.hpp"
#include "loadgen/url.hpp"

using SSL = struct ssl_st;

namespace shoal::loadgen {

class ws_client;

// What a scenario does with a connection's events. Called on the owning thread, from
// ws_client::on_io; a handler may queue frames on the client it is given.
class ws_handler {
 public:
  virtual void on_open(ws_client& c) = 0;
  virtual void on_message(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) = 0;
  virtual void on_closed(ws_client& c, std::string_view why) = 0;

 protected:
  ~ws_handler() = default;
};

// authenticating: upgraded, the auth message sent, its answer awaited (token_placement::message).
enum class client_state : std::uint8_t { idle, connecting, handshaking, authenticating, open, closed };

class ws_client {
 public:
  // `token` (empty: none) must outlive the client; target.token_in says where it goes.
  ws_client(std::uint32_t id, const ws_target& target, std::string_view token = {}) noexcept
      : id_(id), target_(&target), token_(token) {}
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // Creates the socket, starts the connect and registers it (edge-triggered) with `epoll_fd`,
  // with this client's id as the event data. False (and state closed) on immediate failure.
  bool start(int epoll_fd, std::string& error);
  // Handles readiness `events`: finishes the connect, reads, decodes, dispatches to `h`.
  // `scratch` is the thread's read buffer. Frames queued here are written by the next flush().
  void on_io(std::uint32_t events, ws_handler& h, core::frame_encoder& enc,
             std::span<std::uint8_t> scratch);
  // Queues one whole message (masked; compressed when permessage-deflate was agreed). Returns true if the client had nothing queued before,
  // i.e. it must be put on the owner's flush list.
  bool send(core::frame_encoder& enc, core::opcode op, std::span<const std::uint8_t> payload);
  bool send_text(core::frame_encoder& enc, std::string_view text) {
    return send(enc, core::opcode::text,
                {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  }
  // Writes what is queued; on EAGAIN keeps the rest for the next EPOLLOUT. A write error
  // closes the client (and tells `h`).
  void flush(ws_handler& h);
  // Sends a Close (1000) if open, best effort, and closes the socket without telling a handler.
  void shutdown(core::frame_encoder& enc);
  // Closes the socket at once, without a Close frame and without telling a handler: the peer
  // sees what it would see of a client that died (connect --drop-all-at). Nothing else is freed
  // here, so that many drops in a row cost a close() each.
  void drop() noexcept;

  // A paused client reads nothing (the kernel's receive buffer fills and the server must buffer:
  // a slow consumer); resume() reads what has arrived, since no new edge may come.
  void pause_reading() noexcept { paused_ = true; }
  void resume_reading(ws_handler& h, core::frame_encoder& enc, std::span<std::uint8_t> scratch);
  // The code of the server's Close frame, 0 if none came (or it had no code).
  std::uint16_t close_code() const noexcept { return close_code_; }
  // Why the client closed, in a few words that are the same for every connection failing the
  // same way ("HTTP 401", "auth refused: unauthorized", "Connection refused"): a report counts
  // failed opens by it. Empty while the client has not failed.
  std::string_view failure() const noexcept { return failure_; }

  std::uint32_t id() const noexcept { return id_; }
  client_state state() const noexcept { return state_; }
  bool is_open() const noexcept { return state_ == client_state::open; }
  // Whether the client was ever open (its handler heard on_open).
  bool ever_opened() const noexcept { return ever_opened_; }
  std::size_t queued_bytes() const noexcept { return out_.size() - out_off_; }
  // CLOCK_MONOTONIC ns when start() began the connect (handshake latency starts here).
  std::int64_t started_ns() const noexcept { return started_ns_; }

 private:
  void write_handshake();
  void read_handshake(ws_handler& h, core::frame_encoder& enc, std::span<std::uint8_t> scratch,
                      std::size_t n);
  void decode(ws_handler& h, core::frame_encoder& enc, std::span<std::uint8_t> in);
  // Handles a whole message while authenticating: "authed" opens, anything else fails.
  void auth_answered(ws_handler& h, core::opcode op, std::span<const std::uint8_t> payload);
  void deliver(ws_handler& h, core::opcode op, std::span<const std::uint8_t> payload);
  // Closes the socket and tells `h` why (`failure`: the report's short form; empty: `why`).
  void fail(ws_handler& h, std::string_view why, std::string_view failure = {});
  // The socket, or TLS over it: bytes (> 0), 0 at the peer's close, or -1 with errno (EAGAIN
  // while TLS or the socket waits for the other direction or more bytes).
  ssize_t read_some(std::uint8_t* buf, std::size_t n);
  ssize_t write_some(const std::uint8_t* buf, std::size_t n);
  void read_available(ws_handler& h, core::frame_encoder& enc, std::span<std::uint8_t> scratch);

  std::uint32_t id_;
  const ws_target* target_;
  std::string_view token_;             // empty: no token
  int fd_ = -1;
  std::int64_t started_ns_ = 0;
  client_state state_ = client_state::idle;
  bool close_sent_ = false;
  bool paused_ = false;
  bool ever_opened_ = false;
  std::uint16_t close_code_ = 0;
  core::frame_decoder decoder_{core::decoder_options{core::role::client, 64u << 20, false}};
  std::vector<std::uint8_t> out_;   // queued bytes; [out_off_, size) not yet written
  std::size_t out_off_ = 0;
  std::vector<std::uint8_t> message_;  // a message that arrived in more than one event
  std::string handshake_;              // the response head, until complete
  std::string key_;                    // our Sec-WebSocket-Key
  std::string failure_;                // see failure()
  SSL* ssl_ = nullptr;                 // wss://
  bool deflate_ = false;               // permessage-deflate agreed (no context takeover)
  core::deflate_params deflate_params_;
};

}  // namespace shoal::loadgen
