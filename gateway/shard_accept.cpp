// A shard's listeners and admission (see shard.hpp): its SO_REUSEPORT sockets, accepts in
// bounded slices (epoll) or as io_uring completions, the admin listener's spare descriptor for
// the open-file limit, and admitting a connection against limits.max_connections and
// proxy_trusted. open_listener runs on the main thread (shard::open), the rest on the shard's.
#include "gateway/shard.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gateway/transport.hpp"

namespace shoal::gateway {

namespace {
// Connections accepted per listener per pass at most (epoll; io_uring's accepts come as events,
// at most a wait's worth per pass): a reconnect storm's backlog is taken in slices, and the
// connections already open are served between them, as closes are (closes_per_pass).
constexpr int accepts_per_pass = 64;
constexpr std::uint64_t accept_pause_ticks = 10;  // 100 ms at EMFILE
// Asked large on purpose: the kernel caps it at net.core.somaxconn (4096 by default since Linux
// 5.4), so the operator's sysctl decides (deploy/TUNING.md: a reconnect storm after a node
// fails needs more than 4096 per shard socket).
constexpr int listen_backlog = 65535;
}  // namespace

int shard::open_listener(const listen_address& addr, std::string& error) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const std::string host = addr.host == "localhost" ? "127.0.0.1" : addr.host;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(addr.port);
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(addr.port);
    len = sizeof(sockaddr_in6);
  } else {
    error = "listen address " + format_listen_address(addr) + ": not an IP address";
    return -1;
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, listen_backlog) != 0) {
    error = "listen on " + format_listen_address(addr) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

void shard::arm_accepts() {
  if (!uring_) return;
  for (std::size_t i = 0; i < listeners_.size(); ++i) arm_accept(i);
}

void shard::arm_accept(std::size_t i) {
  if (!uring_ || accepting_[i]) return;
  accepting_[i] = true;
  uring_->accept(listeners_[i], listener_tag | i);
}

shard::listener_kind shard::kind_of(std::size_t index) const noexcept {
  if (index < cfg_.server.listen.size()) return listener_kind::plain;
  if (index < cfg_.server.listen.size() + cfg_.tls.listen.size()) return listener_kind::tls;
  return listener_kind::admin;
}

void shard::reopen_spare() {
  // The admin listener's reserve: one descriptor held open, given up to accept an operator's
  // connection when the process is at its open-file limit, and taken back afterwards.
  if (spare_fd_ < 0) spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int shard::accept_with_spare(int listener) {
  if (spare_fd_ < 0) {
    admin_waiting_ = true;  // accepted once the reserve is back
    return -1;
  }
  ::close(spare_fd_);
  spare_fd_ = -1;
  const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) shard_metrics::add(metrics_.admin_reserve_used);
  return fd;  // the spare is reopened once a descriptor is free again (run loop)
}

void shard::on_accepted(const io_event& ev) {
  const auto index = static_cast<std::size_t>(ev.token & 0xffffffffu);
  if (!ev.more && index < accepting_.size()) accepting_[index] = false;
  const listener_kind kind = kind_of(index);
  if (ev.result >= 0) {
    if (draining_) ::close(ev.result);
    else admit(ev.result, kind, index < proxied_.size() && proxied_[index]);
  } else {
    if (kind == listener_kind::admin && (-ev.result == EMFILE || -ev.result == ENFILE)) {
      // The peer is still in the backlog: accept it with the reserve, then accept on.
      if (ev.more) uring_->stop_accepting(ev.token);
      accepting_[index] = false;
      if (const int fd = accept_with_spare(listeners_[index]); fd >= 0) {
        admit(fd, kind, false);
        if (!draining_) arm_accept(index);
      }
      return;
    }
    switch (-ev.result) {
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        // As in accept_all: pause accepting for a moment, the backlog holds the peers.
        shard_metrics::add(metrics_.accept_emfile);
        if (ev.more) uring_->stop_accepting(ev.token);
        accept_retry_at_ = ctx_.now + accept_pause_ticks;
        return;
      default:
        break;  // ECANCELED (draining), ECONNABORTED: nothing to do but go on accepting
    }
  }
  if (!ev.more && !draining_ && accept_retry_at_ == 0) arm_accepts();
  else if (!ev.more && !draining_ && kind == listener_kind::admin) arm_accept(index);
}

void shard::accept_all(std::size_t index) {
  const int listener = listeners_[index];
  const listener_kind kind = kind_of(index);
  if (kind == listener_kind::admin) reopen_spare();  // the reserve first, the operator second
  for (int accepted = 0;;) {
    if (accepted == accepts_per_pass) {  // the rest next pass (the edge will not come again)
      if (std::find(accept_again_.begin(), accept_again_.end(), index) == accept_again_.end())
        accept_again_.push_back(index);
      return;
    }
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      ++accepted;
      admit(fd, kind, proxied_[index]);
      continue;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:
        continue;
      case EMFILE:
      case ENFILE:
        if (kind == listener_kind::admin) {  // the operator gets in on the reserve
          if (const int spare = accept_with_spare(listener); spare >= 0) {
            admit(spare, kind, false);
            admin_waiting_ = true;  // others may wait behind it: accept on once it is back
          }
          return;
        }
        [[fallthrough]];
      case ENOBUFS:
      case ENOMEM:
        // Out of descriptors or memory: a normal condition under load. Pause accepting for a
        // moment (the backlog holds the peers), keep serving the connections we have.
        shard_metrics::add(metrics_.accept_emfile);
        accept_retry_at_ = ctx_.now + accept_pause_ticks;
        return;
      default:
        return;  // EAGAIN: the backlog is empty
    }
  }
}

void shard::admit(int fd, listener_kind kind, bool proxied) {
  const bool tls = kind == listener_kind::tls;
  const bool admin = kind == listener_kind::admin;
  // Operator connections are not clients: outside limits.max_connections (and its count).
  if (!admin) {
    const std::uint64_t held = server_.connections.fetch_add(1, std::memory_order_relaxed);
    if (held >= cfg_.limits.max_connections) {
      server_.connections.fetch_sub(1, std::memory_order_relaxed);
      shard_metrics::add(metrics_.connections_refused_limit);
      ::close(fd);
      return;
    }
  }
  // Behind a balancer (proxied) the socket's peer is the balancer, checked against
  // proxy_trusted, and the per-address limits wait for the PROXY header's address.
  address_limits::key peer;
  if (!admin && (server_.addresses || (proxied && !proxy_trusted_.empty()))) [[unlikely]] {
    peer = address_limits::of_peer(fd);
    if (proxied && !proxy_trusted_.empty() && !contains(proxy_trusted_, peer)) {
      server_.connections.fetch_sub(1, std::memory_order_relaxed);
      shard_metrics::add(metrics_.proxy_refused);
      ::close(fd);
      return;
    }
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
    generations_.push_back(0);
  }
  const std::uint64_t token = (std::uint64_t{generations_[slot]} << 32) | slot;
  shard_metrics::add(metrics_.connections_accepted);
  shard_metrics::add(metrics_.connections_open);
  slots_[slot] = std::make_unique<connection>(fd, token, tls ? tls_transport_kind : plain_transport, ctx_);
  if (admin) slots_[slot]->make_admin();
  // Per client address (when limited): an admitted connection counts until freed; a refused one
  // still reads its request, to answer 429 (over TLS too), within the handshake timeout.
  if (proxied) slots_[slot]->expect_proxy_header();
  else if (!admin && server_.addresses) [[unlikely]] slots_[slot]->count_address(ctx_, peer);
  slots_[slot]->start(ctx_);  // the transport (TLS: its session), then what is already waiting
}

}  // namespace shoal::gateway
