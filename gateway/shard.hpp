// A shard: one pinned thread running one reactor, with its own SO_REUSEPORT listeners, its
// connections, read buffer, timer wheel and metrics. Nothing a shard owns is touched by another
// thread; other threads reach it only through wake() (an eventfd) and the server_state atomics.
// Listeners are opened on the main thread (so start-up errors surface before threads start).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/conn_pools.hpp"
#include "gateway/connection.hpp"
#include "gateway/metrics.hpp"
#include "gateway/network_list.hpp"
#include "gateway/pubsub_hub.hpp"
#include "gateway/reactor_backend.hpp"
#include "gateway/shard_context.hpp"
#include "gateway/shard_id.hpp"
#include "gateway/timer_wheel.hpp"
#include "gateway/uring_backend.hpp"

namespace shoal::gateway {

// The io_uring backend's settings, from the configuration.
inline uring_options shard_uring_options(const server_config& s) {
  uring_options o;
  o.buffers = s.io_uring_buffers;
  o.buffer_size = s.io_uring_buffer_size;
  return o;
}

class shard {
 public:
  shard(shard_id id, unsigned shards, const config& cfg, const connection_settings& settings,
        server_state& server, shard_mesh& mesh, io_backend io);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  // Creates the reactor, the wake-up eventfd and one listener per configured address.
  bool open(std::string& error);
  // Runs the loop on a new thread, pinned to `cpu` (-1: not pinned).
  void start(int cpu);
  void join();
  // Any thread: makes the loop look at server_state (draining) now.
  void wake() noexcept;

  const shard_metrics& metrics() const noexcept { return metrics_; }
  shard_id id() const noexcept { return id_; }

 private:
  void run();
  void dispatch(const io_event& ev);
  void accept_all(std::size_t listener_index);
  void on_accepted(const io_event& ev);
  void arm_accepts();  // io_uring: every listener not accepting yet
  static void on_sent(void* self, std::uint64_t token, int result);
  enum class listener_kind : std::uint8_t { plain, tls, admin };
  // Event tokens with the top bit set: listeners (listener_tag | index), the wake-up eventfd
  // and the mailbox; a connection's token is (generation << 32) | slot.
  static constexpr std::uint64_t listener_tag = std::uint64_t{1} << 63;
  static constexpr std::uint64_t wake_token = listener_tag | 0xffffffffu;
  static constexpr std::uint64_t mailbox_token = listener_tag | 0xfffffffeu;
  static int open_listener(const listen_address& addr, std::string& error);  // -1 and error
  listener_kind kind_of(std::size_t listener_index) const noexcept;
  void admit(int fd, listener_kind kind, bool proxied);
  void arm_accept(std::size_t listener_index);
  void reopen_spare();
  int accept_with_spare(int listener);  // -1 if the reserve is spent
  connection* lookup(std::uint64_t token) noexcept;
  static hub_client* lookup_for_hub(void* self, std::uint64_t token) noexcept;
  void free_closed();
  void finish_closes();  // a bounded number of the transports' queued closes
  void begin_drain();
  void drain_step();
  std::uint64_t current_tick() const noexcept;

  shard_id id_;
  const config& cfg_;
  connection_settings settings_;  // this shard's copy: replaced between loop passes on reload
  std::uint64_t settings_generation_ = 0;
  server_state& server_;
  shard_metrics metrics_;
  shard_mesh& mesh_;
  pubsub_hub hub_;  // declared before slots_: connections hold its local frames
  std::uint64_t last_sweep_ = 0;
  io_backend io_;
  std::unique_ptr<reactor_backend> backend_;
  uring_backend* uring_ = nullptr;  // backend_, when it is io_uring
  // The connections' transports: plain TCP on the backend, and TLS over another plain one.
  std::unique_ptr<transport> plain_transport_;
  std::unique_ptr<transport> tls_transport_;
  std::vector<int> listeners_;
  std::vector<bool> accepting_;  // io_uring: the listener's multishot accept is armed
  int wake_fd_ = -1;
  timer_wheel timers_;
  std::vector<std::uint8_t> read_buffer_;
  core::deflate_pool deflate_pool_;  // declared before slots_ and ctx_
  conn_pools pools_;  // declared before slots_ (connections give their state back to it)
  std::vector<connection*> dirty_, read_again_, again_, closed_;
  shard_context ctx_;
  // Connections by slot; a token is (generation << 32 | slot), so a stale event for a reused
  // slot is recognised and ignored. Generations wrap at 2^27 (uring_backend.hpp: bits 59..62).
  std::vector<std::unique_ptr<connection>> slots_;
  std::vector<std::uint32_t> generations_;
  std::vector<std::uint32_t> free_slots_;
  // Per-address limits on: the address each admitted connection counts against, until freed.
  std::unordered_map<std::uint64_t, address_limits::key> address_of_;
  std::vector<network> proxy_trusted_;  // server.proxy_trusted, parsed
  std::vector<bool> proxied_;           // per listener: its connections start with a PROXY header
  std::vector<std::size_t> accept_again_;  // epoll listeners with more in their backlog
  std::size_t closes_queued_ = 0;  // descriptors the transports still have to close
  std::uint64_t accept_retry_at_ = 0;  // tick; nonzero while accept is paused at EMFILE
  int spare_fd_ = -1;  // shard 0 with admin listeners: the descriptor kept for an operator
  bool admin_waiting_ = false;  // an admin peer waits in the backlog for the reserve
  // Draining: connections get their 1001 spread over the drain period.
  bool draining_ = false;
  std::uint64_t drain_started_ = 0;
  std::size_t drain_total_ = 0;
  std::size_t drain_closed_ = 0;
  std::uint64_t start_tick_base_ = 0;
  std::thread thread_;
};

}  // namespace shoal::gateway
