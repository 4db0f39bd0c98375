// Plain TCP transports (see transport.hpp): on epoll, reads and gather writes by syscall when the
// socket is ready; on io_uring, a multishot receive into the ring's provided buffers and one
// send per connection per pass, submitted with the others and completed before the pass ends.
// Both queue closes and finish them a bounded number per pass (finish_closes). errno is read
// here and nowhere above. Each is a template over its user: conn_user (final) when it sits
// directly under the connection, so every call up is direct and inlined, or transport_user
// under the TLS layer.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "gateway/conn_user.hpp"
#include "gateway/connection.hpp"
#include "gateway/transport.hpp"
#include "gateway/uring_backend.hpp"

namespace shoal::gateway {
namespace {

constexpr std::size_t max_iov = 1024;  // IOV_MAX on Linux
constexpr int read_rounds = 4;         // reads per connection per pass before yielding

template <class User>
class epoll_transport final : public transport {
 public:
  explicit epoll_transport(User& user) noexcept : transport(user), user_(user) {}

  bool open(shard_context& ctx, connection& c) override {
    // Registered once, edge-triggered, for both directions: steady traffic costs no epoll_ctl.
    return static_cast<bool>(ctx.backend->add(c.io().fd, want_read | want_write, c.token()));
  }

  void on_event(shard_context& ctx, connection& c, const io_event& ev) override {
    if (ev.writable && c.io().write_blocked) {
      c.io().write_blocked = false;
      user_.on_writable(ctx, c);
      if (c.state() == conn_state::closed) return;
    }
    if (ev.readable) {
      resume_input(ctx, c);
    } else if (ev.hangup) {
      if (user_.wants_input(c)) resume_input(ctx, c);  // reads what is left, then the EOF or error
      else user_.on_end(ctx, c, false);
    }
  }

  void resume_input(shard_context& ctx, connection& c) override {
    c.io().input_paused = false;
    const std::span<std::uint8_t> buf = ctx.read_buffer;
    for (int round = 0; round < read_rounds; ++round) {
      if (!user_.wants_input(c)) return;
      const ssize_t n = ::recv(c.io().fd, buf.data(), buf.size(), 0);
      if (n > 0) {
        user_.on_bytes(ctx, c, buf.first(static_cast<std::size_t>(n)));
        if (static_cast<std::size_t>(n) < buf.size()) return;  // the socket is drained
        continue;
      }
      if (n == 0) {
        user_.on_end(ctx, c, true);
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      user_.on_end(ctx, c, false);  // ECONNRESET and friends
      return;
    }
    // Read budget used: there may be more; other connections get their turn first.
    c.read_later(ctx);
  }

  void pause_input(shard_context&, connection& c) override { c.io().input_paused = true; }

  void write(shard_context& ctx, connection& c) override {
    iovec iov[max_iov];
    while (!c.io().write_blocked && c.state() != conn_state::closed) {
      const std::size_t count = user_.gather(c, iov);
      if (count == 0) return;
      std::size_t want = 0;
      for (std::size_t i = 0; i < count; ++i) want += iov[i].iov_len;
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = count;
      const ssize_t n = ::sendmsg(c.io().fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c.io().write_blocked = true;  // EPOLLOUT (edge-triggered, registered once) resumes us
          user_.on_written(ctx, c, 0, true);
          return;
        }
        user_.on_end(ctx, c, false);
        return;
      }
      const bool full = static_cast<std::size_t>(n) < want;  // the socket buffer is full
      if (full) c.io().write_blocked = true;
      user_.on_written(ctx, c, static_cast<std::size_t>(n), full);
    }
  }

  void shutdown_write(shard_context&, connection& c) override { ::shutdown(c.io().fd, SHUT_WR); }

  void close(shard_context&, connection& c) override {
    // Deregistered by the close itself; until then the descriptor's events carry a token whose
    // generation no longer matches, and are ignored.
    if (c.io().fd >= 0) closing_.push_back(c.io().fd);
    c.io().fd = -1;
  }

  std::size_t finish_closes(shard_context&, std::size_t budget) override {
    const std::size_t n = std::min(budget, closing_.size());
    for (std::size_t i = 0; i < n; ++i) ::close(closing_[closing_.size() - 1 - i]);
    closing_.resize(closing_.size() - n);
    if (closing_.empty() && closing_.capacity() > 4096) std::vector<int>().swap(closing_);
    return closing_.size();
  }

  ~epoll_transport() override {
    for (int fd : closing_) ::close(fd);
  }

 private:
  User& user_;  // above_, as its own type
  std::vector<int> closing_;
};

template <class User>
class uring_transport final : public transport {
 public:
  explicit uring_transport(User& user) noexcept : transport(user), user_(user) {}

  bool open(shard_context&, connection&) override { return true; }  // receive armed on resume

  void on_event(shard_context& ctx, connection& c, const io_event& ev) override {
    switch (ev.kind) {
      case io_kind::received:
        on_received(ctx, c, ev);
        return;
      case io_kind::ready:  // the wait for room (wait_writable) ended
        if (c.io().write_blocked && c.state() != conn_state::closed) {
          c.io().write_blocked = false;
          user_.on_writable(ctx, c);
        }
        return;
      default:
        return;
    }
  }

  void on_sent(shard_context& ctx, connection& c, int result) override {
    io_link& l = c.io();
    l.send_in_flight = false;
    if (c.state() == conn_state::closed) {  // closed while the send was in flight: free now
      user_.on_written(ctx, c, 0, false);
      return;
    }
    if (result < 0) {
      if (result != -EAGAIN && result != -EINTR) {
        user_.on_end(ctx, c, false);
        return;
      }
      l.write_blocked = true;
      ctx.uring->wait_writable(l.fd, c.token());
      user_.on_written(ctx, c, 0, true);
      return;
    }
    const bool full = static_cast<std::size_t>(result) < l.write_len;  // the socket buffer is full
    if (full) {
      l.write_blocked = true;
      ctx.uring->wait_writable(l.fd, c.token());
    }
    user_.on_written(ctx, c, static_cast<std::size_t>(result), full);
    if (!full && c.state() != conn_state::closed) user_.write_later(ctx, c);
  }

  void resume_input(shard_context& ctx, connection& c) override {
    io_link& l = c.io();
    l.input_paused = false;
    if (l.receiving || !user_.wants_input(c)) return;
    l.receiving = true;
    ctx.uring->receive(l.fd, c.token());
  }

  void pause_input(shard_context& ctx, connection& c) override {
    io_link& l = c.io();
    if (l.input_paused) return;
    l.input_paused = true;
    if (l.receiving) ctx.uring->stop_receiving(c.token());  // the completion clears `receiving`
  }

  void write(shard_context& ctx, connection& c) override {
    io_link& l = c.io();
    if (l.send_in_flight || l.write_blocked || c.state() == conn_state::closed) return;
    iovec iov[max_iov];
    const std::size_t count = user_.gather(c, iov);
    if (count == 0) return;
    std::size_t want = 0;
    for (std::size_t i = 0; i < count; ++i) want += iov[i].iov_len;
    l.write_len = static_cast<std::uint32_t>(std::min<std::size_t>(want, UINT32_MAX));
    ctx.uring->send(l.fd, c.token(), {iov, count});  // on_sent before this pass ends
    l.send_in_flight = true;
  }

  void shutdown_write(shard_context&, connection& c) override { ::shutdown(c.io().fd, SHUT_WR); }

  void close(shard_context&, connection& c) override {
    io_link& l = c.io();
    if (l.fd >= 0) closing_.push_back({l.fd, c.token(), l.receiving, l.write_blocked});
    l.fd = -1;
  }

  std::size_t finish_closes(shard_context& ctx, std::size_t budget) override {
    const std::size_t n = std::min(budget, closing_.size());
    for (std::size_t i = 0; i < n; ++i) {
      const pending_close& p = closing_[closing_.size() - 1 - i];
      ctx.uring->close_connection(p.fd, p.token, p.receiving, p.waiting_writable);
    }
    closing_.resize(closing_.size() - n);
    if (closing_.empty() && closing_.capacity() > 4096) std::vector<pending_close>().swap(closing_);
    return closing_.size();
  }

  ~uring_transport() override {
    for (const pending_close& p : closing_) ::close(p.fd);
  }

 private:
  struct pending_close {
    int fd;
    std::uint64_t token;
    bool receiving;
    bool waiting_writable;
  };

  void on_received(shard_context& ctx, connection& c, const io_event& ev) {
    io_link& l = c.io();
    if (!ev.more) l.receiving = false;
    if (c.state() == conn_state::closed) return;
    if (ev.result > 0) {
      // The provided buffer is ours until the shard recycles it after this call; the decoder
      // unmasks in place and copies what it keeps (a split frame, a fragmented message).
      user_.on_bytes(ctx, c, {const_cast<std::uint8_t*>(ev.data), static_cast<std::size_t>(ev.result)});
    } else if (ev.result == 0) {
      user_.on_end(ctx, c, true);
      return;
    } else if (ev.result == -ENOBUFS) {
      shard_metrics::add(ctx.metrics.receive_buffers_dry);
    } else if (ev.result != -ECANCELED) {
      user_.on_end(ctx, c, false);  // ECONNRESET and friends
      return;
    }
    // Stopped with the connection still open: out of provided buffers (try again next pass,
    // when buffers are back), or cancelled by a pause that has since ended.
    if (!ev.more && !l.receiving && c.state() != conn_state::closed && user_.wants_input(c))
      c.read_later(ctx);
  }

  User& user_;  // above_, as its own type
  std::vector<pending_close> closing_;
};

}  // namespace

std::unique_ptr<transport> make_epoll_transport() {
  return std::make_unique<epoll_transport<conn_user>>(connection::user());
}

std::unique_ptr<transport> make_uring_transport() {
  return std::make_unique<uring_transport<conn_user>>(connection::user());
}

std::unique_ptr<transport> make_epoll_transport(transport_user& above) {
  return std::make_unique<epoll_transport<transport_user>>(above);
}

std::unique_ptr<transport> make_uring_transport(transport_user& above) {
  return std::make_unique<uring_transport<transport_user>>(above);
}

}  // namespace shoal::gateway
