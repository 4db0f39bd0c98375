// The shard loop (see shard.hpp). One pass: wait for readiness, dispatch events, give
// connections with more input another read, fire due timers, advance the drain, then one gather
// write per connection with output, and free what closed. Writing once per pass, after all
// input, is what turns a burst of messages into one syscall per connection.
#include "gateway/shard.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#if SHOAL_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include "gateway/conn_user.hpp"
#include "gateway/log.hpp"
#include "gateway/tls_transport.hpp"

namespace shoal::gateway {

namespace {
constexpr std::uint64_t sweep_ticks = 100;  // forget unused topics, trim pools: once a second
constexpr std::size_t read_buffer_size = 256 * 1024;
// Descriptors closed per loop pass at most: when thousands of peers vanish at once, their
// closes (kernel work each) are spread over passes, and the healthy connections'
// events are served between them.
constexpr std::size_t closes_per_pass = 128;
}  // namespace

shard::shard(shard_id id, unsigned shards, const config& cfg, const connection_settings& settings,
             server_state& server, shard_mesh& mesh, io_backend io)
    : id_(id),
      cfg_(cfg),
      settings_(settings),
      server_(server),
      mesh_(mesh),
      hub_(id, shards, cfg, mesh, server.cluster),
      io_(io),
      read_buffer_(read_buffer_size),
      ctx_{settings_, metrics_, server_, timers_, read_buffer_, dirty_, read_again_, closed_, pools_, 0,
           &hub_, {}, &deflate_pool_, {}, {}, {}, nullptr, nullptr, {}, nullptr, {}, 0} {
  hub_.set_lookup(&shard::lookup_for_hub, this);
  shard_metrics::set(metrics_.queue_limit_bytes, hub_.queue_bytes());
  ctx_.address_holds = &address_of_;
  for (const std::string& cidr : cfg.server.proxy_trusted) {
    std::string error;  // validated with the config
    if (auto net = parse_network(cidr, error)) proxy_trusted_.push_back(*net);
  }
}

shard::~shard() {
  slots_.clear();
  hub_.discard_pending();
  for (int fd : listeners_) ::close(fd);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

bool shard::open(std::string& error) {
  if (io_ == io_backend::io_uring) {
    auto uring = uring_backend::create(shard_uring_options(cfg_.server), error);
    if (!uring) {
      error = "io_uring: " + error;
      return false;
    }
    uring_ = uring.get();
    backend_ = std::move(uring);
    ctx_.uring = uring_;
  } else {
    backend_ = make_epoll_backend(error);
    if (!backend_) return false;
  }
  ctx_.backend = backend_.get();
  plain_transport_ = uring_ ? make_uring_transport() : make_epoll_transport();
  ctx_.transports[plain_transport] = plain_transport_.get();
  if (!cfg_.tls.listen.empty()) {
    using make_inner = std::unique_ptr<transport> (*)(transport_user&);
    const make_inner inner = uring_ ? make_inner{make_uring_transport} : make_inner{make_epoll_transport};
    tls_transport_ = std::make_unique<tls_transport>(connection::user(), server_.tls, inner);
    ctx_.transports[tls_transport_kind] = tls_transport_.get();
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    error = std::string("eventfd: ") + std::strerror(errno);
    return false;
  }
  if (uring_) {
    uring_->watch_counter(wake_fd_, wake_token);
    uring_->watch_counter(mesh_.wake_fd(id_), mailbox_token);
  } else if (!backend_->add(wake_fd_, want_read, wake_token) ||
             !backend_->add(mesh_.wake_fd(id_), want_read, mailbox_token)) {
    error = "epoll: cannot watch the wake-up eventfds";
    return false;
  }
  // Plain listeners first, then TLS ones, then (shard 0 only) admin ones: a listener's index
  // says which it is (kind_of).
  std::vector<listen_address> addresses = cfg_.server.listen;
  addresses.insert(addresses.end(), cfg_.tls.listen.begin(), cfg_.tls.listen.end());
  if (index_of(id_) == 0) {
    addresses.insert(addresses.end(), cfg_.server.admin_listen.begin(), cfg_.server.admin_listen.end());
    if (!cfg_.server.admin_listen.empty()) reopen_spare();
  }
  for (const listen_address& addr : addresses) {
    const int fd = open_listener(addr, error);
    if (fd < 0) return false;
    const bool client = proxied_.size() < cfg_.server.listen.size() + cfg_.tls.listen.size();
    const auto& only = cfg_.server.proxy_listen;
    proxied_.push_back(client && (cfg_.server.proxy_protocol ||
                                  std::find(only.begin(), only.end(), addr) != only.end()));
    if (uring_) {
      listeners_.push_back(fd);
      continue;
    }
    if (const io_status st = backend_->add(fd, want_read, listener_tag | listeners_.size()); !st) {
      error = "epoll: cannot watch a listener: " + std::string(std::strerror(st.error));
      ::close(fd);
      return false;
    }
    listeners_.push_back(fd);
  }
  accepting_.assign(listeners_.size(), false);
  arm_accepts();
  return true;
}

void shard::start(int cpu) {
  thread_ = std::thread([this, cpu] {
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) != 0)
        log_line(log_level::warn, "shard %u: cannot pin to cpu %d", index_of(id_), cpu);
    }
    run();
  });
}

void shard::join() {
  if (thread_.joinable()) thread_.join();
}

void shard::wake() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

std::uint64_t shard::current_tick() const noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const std::uint64_t ms = static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
                           static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
  return ms / tick_ms - start_tick_base_;
}

hub_client* shard::lookup_for_hub(void* self, std::uint64_t token) noexcept {
  connection* c = static_cast<shard*>(self)->lookup(token);
  return c && c->state() != conn_state::closed ? c->client() : nullptr;
}

connection* shard::lookup(std::uint64_t token) noexcept {
  const std::uint32_t slot = static_cast<std::uint32_t>(token);
  if (slot >= slots_.size() || !slots_[slot]) return nullptr;
  if (generations_[slot] != static_cast<std::uint32_t>(token >> 32)) return nullptr;
  return slots_[slot].get();
}

void shard::run() {
  if (uring_) uring_->start();
  // Take the authenticator now, not on the first request: that may come at the open-file limit,
  // where UBSan's vptr check of the shared_ptr copy reported a bad object (test_admin_listener
  // under ASan; release runs were fine: the check probes memory through a pipe, and there was no
  // descriptor left). Later copies happen only after a SIGHUP reload.
  current_auth(ctx_);
  start_tick_base_ = 0;
  start_tick_base_ = current_tick();
  std::array<io_event, 512> events;
  for (;;) {
    // A SIGHUP reload published new connection settings: take them between passes, where no
    // connection is in the middle of using them.
    if (server_.reloaded_settings.generation() != settings_generation_) [[unlikely]] {
      settings_generation_ = server_.reloaded_settings.generation();
      if (auto next = server_.reloaded_settings.get()) settings_ = *next;
    }
    // Sleep only if nothing is pending here and no other shard has sent us anything; senders
    // write our mailbox eventfd only while we announce sleep (see mailbox.hpp).
    const bool busy = !read_again_.empty() || !dirty_.empty() || backend_->pending() ||
                      closes_queued_ != 0 || !accept_again_.empty() || !hub_.prepare_to_sleep();
    const int n = backend_->wait(events, busy ? 0 : static_cast<int>(tick_ms));
    mesh_.woke(id_);
    ctx_.now = current_tick();
    for (int i = 0; i < n; ++i) dispatch(events[static_cast<std::size_t>(i)]);
    // Listeners whose backlog was not emptied last pass (accepts_per_pass).
    if (!accept_again_.empty()) {
      std::vector<std::size_t> again;
      again.swap(accept_again_);
      for (std::size_t i : again)
        if (!draining_ && i < listeners_.size() && accept_retry_at_ == 0) accept_all(i);
    }
    // Connections that used their read budget, or were resumed below the low watermark.
    if (!read_again_.empty()) {
      again_.swap(read_again_);  // on_readable may queue the connection again
      for (connection* c : again_) {
        c->in_read_again_list = false;
        if (c->state() != conn_state::closed) c->on_readable(ctx_);
      }
      again_.clear();
    }
    // Before the public listeners' accept retry, so a descriptor an operator's connection gave
    // back becomes the reserve again rather than a client's.
    if (spare_fd_ < 0 && !cfg_.server.admin_listen.empty() && index_of(id_) == 0) {
      reopen_spare();
      if (spare_fd_ >= 0 && admin_waiting_ && !draining_) {
        admin_waiting_ = false;  // an operator was left in the backlog: accept it now
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
          if (kind_of(i) != listener_kind::admin) continue;
          if (uring_) arm_accept(i);
          else accept_all(i);
        }
      }
    }
    if (accept_retry_at_ != 0 && ctx_.now >= accept_retry_at_ && !draining_) {
      accept_retry_at_ = 0;
      if (uring_) arm_accepts();
      else
        for (std::size_t i = 0; i < listeners_.size(); ++i) accept_all(i);
    }
    // Messages from other shards: publishes for topics homed here, deliveries, answers.
    hub_.poll(ctx_);
    if (ctx_.now - last_sweep_ >= sweep_ticks) {
      last_sweep_ = ctx_.now;
      hub_.sweep(ctx_.now);
      pools_.inputs.trim(conn_pools::reserve);
      pools_.outputs.trim(conn_pools::reserve);
      if (uring_) {
        const trim_result t = uring_->trim_buffers();  // when quiet after a burst
        if (t.status == trim_status::trimmed) {
          shard_metrics::add(metrics_.receive_buffer_trims);
          shard_metrics::add(metrics_.receive_buffer_bytes_trimmed, t.resident_bytes);
        }
        uring_->trim_backlog();
      }
#if SHOAL_HAVE_MIMALLOC
      // This thread's empty segments and retired pages back to the system: after a burst (a
      // reconnect storm, a wave of subscribes) mimalloc would otherwise keep its peak cached.
      mi_collect(false);
#endif
    }
    timers_.advance(ctx_.now, [this](timer_node& node) {
      connection::of_timer(node).on_timer(ctx_);
    });
    if (!draining_ && server_.draining.load(std::memory_order_acquire)) begin_drain();
    if (draining_) drain_step();
    // One gather write per connection with output.
    for (std::size_t i = 0; i < dirty_.size(); ++i) dirty_[i]->flush(ctx_);
    dirty_.clear();
    if (uring_) uring_->finish_sends(&shard::on_sent, this);  // the pass's one submission of sends
    // Only connections that closed queue a close with their transport (connection::abort): a
    // pass without any, and none left over, asks no transport.
    const bool closed_some = !closed_.empty();
    free_closed();
    if (closed_some || closes_queued_ != 0) finish_closes();
    if (draining_ && metrics_.connections_open.load(std::memory_order_relaxed) == 0) break;
  }
  log_line(log_level::debug, "shard %u: stopped", index_of(id_));
}

void shard::dispatch(const io_event& ev) {
  switch (ev.kind) {
    case io_kind::counter:  // an eventfd, already read in the ring
      return;
    case io_kind::accepted:
      on_accepted(ev);
      return;
    case io_kind::received: {
      // Closed connections stay in their slot until free_closed(), so a receive that completes
      // after the close still finds its connection (which ignores it).
      if (connection* c = lookup(ev.token)) c->on_event(ctx_, ev);
      if (ev.data) uring_->recycle(ev.buffer);
      return;
    }
    case io_kind::sent:
      on_sent(this, ev.token, ev.result);
      return;
    case io_kind::ready:
      break;
  }
  if (ev.token == wake_token) {
    std::uint64_t drained;
    [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &drained, sizeof drained);
    return;
  }
  if (ev.token == mailbox_token) {
    mesh_.drain_wake_fd(id_);
    return;
  }
  if (ev.token & listener_tag) {
    const auto index = static_cast<std::size_t>(ev.token & 0xffffffffu);
    // An accept pause (EMFILE) is for the public listeners; the admin one goes on.
    if (!draining_ && (accept_retry_at_ == 0 || kind_of(index) == listener_kind::admin)) accept_all(index);
    return;
  }
  connection* c = lookup(ev.token);
  if (!c || c->state() == conn_state::closed) return;
  c->on_event(ctx_, ev);
}

void shard::on_sent(void* self, std::uint64_t token, int result) {
  auto* s = static_cast<shard*>(self);
  // Closed connections stay in their slot until free_closed(), after every send completed.
  if (connection* c = s->lookup(token)) c->on_sent(s->ctx_, result);
}

void shard::finish_closes() {
  closes_queued_ = 0;
  for (transport* t : ctx_.transports)
    if (t) closes_queued_ += t->finish_closes(ctx_, closes_per_pass);
}

void shard::free_closed() {
  for (connection* c : closed_) {
    if (c->in_read_again_list) std::erase(read_again_, c);
    const std::uint32_t slot = static_cast<std::uint32_t>(c->token());
    if (!address_of_.empty()) [[unlikely]] {
      if (auto it = address_of_.find(c->token()); it != address_of_.end()) {
        server_.addresses->release(it->second);
        address_of_.erase(it);
      }
    }
    slots_[slot].reset();
    generations_[slot] = (generations_[slot] + 1) & ((1u << 27) - 1);
    free_slots_.push_back(slot);
  }
  closed_.clear();
}

void shard::begin_drain() {
  draining_ = true;
  for (int fd : listeners_) {
    if (uring_) {
      uring_->close_socket(fd);  // cancels the multishot accept, then closes
      continue;
    }
    backend_->remove(fd);
    ::close(fd);
  }
  listeners_.clear();
  drain_started_ = ctx_.now;
  drain_total_ = 0;
  for (const auto& c : slots_)
    if (c && c->state() == conn_state::open) ++drain_total_;
  drain_closed_ = 0;
  log_line(log_level::info, "shard %u: draining %zu connections", index_of(id_), drain_total_);
}

void shard::drain_step() {
  const std::uint64_t drain_ticks =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(cfg_.timeouts.drain.count()) / tick_ms);
  const std::uint64_t deadline_ticks =
      static_cast<std::uint64_t>(cfg_.timeouts.shutdown_deadline.count()) / tick_ms;
  const std::uint64_t elapsed = ctx_.now - drain_started_;
  if (elapsed >= deadline_ticks) {
    for (const auto& c : slots_)
      if (c && c->state() != conn_state::closed) c->abort(ctx_);
    return;
  }
  // Close 1001 to a share of the connections that grows linearly over the drain period, so a
  // fleet of clients does not reconnect all at once.
  const std::size_t target =
      elapsed >= drain_ticks ? drain_total_ : drain_total_ * elapsed / drain_ticks + 1;
  for (const auto& c : slots_) {
    if (drain_closed_ >= target) break;
    if (!c || c->state() == conn_state::closed) continue;
    // WebSockets only: a keep-alive HTTP connection is answered with "Connection: close" while
    // draining (so a probe can still see /readyz 503) and ends at its idle timeout.
    if (c->state() == conn_state::open) {
      c->start_close(ctx_, static_cast<std::uint16_t>(core::close_code::going_away),
                     "server shutting down");
      ++drain_closed_;
    }
  }
}

}  // namespace shoal::gateway
