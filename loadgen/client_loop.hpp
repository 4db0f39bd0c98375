// One worker thread's event loop: an epoll instance, the connections it owns, the thread's
// read buffer and masking-key source, and the list of connections with frames to write, which
// are flushed once per loop pass (never per message). Owned and run by one worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/frame_encoder.hpp"
#include "loadgen/ws_client.hpp"

namespace shoal::loadgen {

class client_loop {
 public:
  client_loop();
  ~client_loop();
  client_loop(const client_loop&) = delete;
  client_loop& operator=(const client_loop&) = delete;

  // Starts `count` connections, ids 0..count-1, connection id to target_of(id) presenting
  // token_of(id) (both must outlive the connection; no token_of: no token). Returns how many
  // failed at once (they are reported to the handler through on_closed by the first poll()).
  std::uint64_t connect_all(const std::function<const ws_target&(std::uint32_t)>& target_of,
                            std::uint64_t count,
                            const std::function<std::string_view(std::uint32_t)>& token_of = nullptr);
  // Starts one more connection (the next id) to `target` with `token` (both must outlive it).
  // False if it failed at once (reported to the handler through on_closed by the next poll()).
  bool connect_one(const ws_target& target, std::string_view token = {});
  // Waits up to `timeout_ns` for readiness, handles every event, then flushes.
  void poll(std::int64_t timeout_ns, ws_handler& h);
  // Queues a message on `c` and marks it for the end-of-pass flush.
  void send(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload);
  void send_text(ws_client& c, std::string_view text);
  // Lets a paused client read again (and reads what is waiting).
  void resume_reading(ws_client& c, ws_handler& h) {
    c.resume_reading(h, encoder_, scratch_);
    if (c.queued_bytes() > 0) pending_.push_back(c.id());
  }
  // Writes every marked connection.
  void flush(ws_handler& h);
  // Sends Close to every open connection and closes every socket, after counting in
  // not_opened() the connections that never opened.
  void shutdown_all();
  // After shutdown_all(): the connections that never opened, by reason: those that failed by
  // ws_client::failure() ("HTTP 401", "auth refused: unauthorized", ...), those still waiting by
  // what they waited for ("unanswered: TCP connect", "unanswered: upgrade", "unanswered: auth").
  const std::map<std::string, std::uint64_t>& not_opened() const noexcept { return not_opened_; }
  // Of not_opened(), the ones still waiting: the run ended first (a warm-up timeout, an
  // interrupt). Their handler was never told (no on_closed), so they are in no failure count.
  std::uint64_t unanswered() const noexcept { return unanswered_; }

  ws_client& client(std::uint32_t id) { return *clients_[id]; }
  std::size_t size() const noexcept { return clients_.size(); }
  core::frame_encoder& encoder() noexcept { return encoder_; }

 private:
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<ws_client>> clients_;
  std::vector<std::uint32_t> pending_;     // ids with frames queued since the last flush
  std::vector<std::uint32_t> failed_at_start_;
  std::map<std::string, std::uint64_t> not_opened_;
  std::uint64_t unanswered_ = 0;
  std::vector<std::uint8_t> scratch_;      // read buffer
  core::frame_encoder encoder_{core::role::client};
};

}  // namespace shoal::loadgen
