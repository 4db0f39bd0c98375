// An in-memory transport for unit tests of the connection (after Beast's test stream): each
// connection's far end is a memory_peer holding the bytes the test feeds (delivered one chunk per
// receive, in whatever split the test chose), the bytes the connection wrote, a socket "room"
// (0: stalled, writes blocked until released), failures injected at the Nth receive or send,
// the peer's FIN or reset, and what the connection did to it (FIN, close). It keeps the real
// transports' contract (plain_transport.cpp, epoll): input only while the user wants it, a read
// budget per call then read_later, on_written after every write, writes stop once closed.
// The descriptor of a connection is the index of its peer. Test thread only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/transport.hpp"

namespace shoal::gateway::conn_test {

constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

struct memory_peer {
  // --- What the peer sends (the test's side). ---
  std::deque<std::vector<std::uint8_t>> input;  // one receive each (cut to the read buffer)
  bool eof = false;    // after the input: the peer's FIN (on_end(true))
  bool reset = false;  // after the input: a reset (on_end(false))
  // --- The socket. ---
  std::size_t room = unlimited;       // bytes the socket takes before it is full (0: stalled)
  std::size_t max_write = unlimited;  // bytes one send takes at most (a short write: "full")
  bool fail_open = false;
  std::size_t fail_receive_at = 0;  // 1-based: this receive reports an error; 0: never
  std::size_t fail_send_at = 0;     // 1-based: this send reports an error; 0: never
  // --- What happened (the test reads these). ---
  std::vector<std::uint8_t> output;  // every byte the connection wrote, in order
  std::size_t taken = 0;             // of `output`, consumed by take()
  std::size_t receives = 0, sends = 0;
  bool failed = false;  // an injected failure was reported
  bool opened = false;
  bool fin = false;     // shutdown_write
  std::size_t output_at_fin = 0;
  bool closed = false;  // close
  int closes = 0;
  std::size_t writes_after_fin = 0;    // contract breaches, expected 0
  std::size_t writes_after_close = 0;
  bool readable_event = false;  // new input: the rig dispatches a readable event next pass

  void feed(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return;
    input.emplace_back(bytes.begin(), bytes.end());
    readable_event = true;
  }
  void feed(std::string_view bytes) { feed(as_bytes(bytes)); }
  // Cut into chunks of the given sizes, in turn (cycling); the rest as one chunk if `sizes`
  // runs out without cycling.
  void feed_split(std::span<const std::uint8_t> bytes, std::span<const std::size_t> sizes, bool cycle = true) {
    std::size_t at = 0, i = 0;
    while (at < bytes.size()) {
      std::size_t n = bytes.size() - at;
      if (i < sizes.size() || (cycle && !sizes.empty())) n = std::min(n, std::max<std::size_t>(1, sizes[i++ % sizes.size()]));
      feed(bytes.subspan(at, n));
      at += n;
    }
  }
  void feed_bytewise(std::span<const std::uint8_t> bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) feed(bytes.subspan(i, 1));
  }
  void send_fin() {
    eof = true;
    readable_event = true;
  }
  void send_reset() {
    reset = true;
    readable_event = true;
  }
  void stall() { room = 0; }
  void release(std::size_t n = unlimited) { room = n == unlimited || room == unlimited ? n : room + n; }

  // Output not yet taken, as text.
  std::string take() {
    std::string s(reinterpret_cast<const char*>(output.data()) + taken, output.size() - taken);
    taken = output.size();
    return s;
  }
  std::string text() const { return {reinterpret_cast<const char*>(output.data()), output.size()}; }
  bool input_pending() const { return !input.empty() || eof || reset; }

  static std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
  }
};

class memory_transport final : public transport {
 public:
  using transport::transport;

  static constexpr int read_rounds = 4;  // as the epoll transport

  // A new peer; its index is the descriptor to give the connection.
  int add_peer() {
    peers_.push_back(std::make_unique<memory_peer>());
    return static_cast<int>(peers_.size() - 1);
  }
  memory_peer& peer(int fd) { return *peers_.at(static_cast<std::size_t>(fd)); }

  bool open(shard_context&, connection& c) override {
    memory_peer& p = peer(c.io().fd);
    p.opened = true;
    return !p.fail_open;
  }

  // The reactor's event (the rig sends one when the peer fed input, or the socket has room
  // again after a blocked write), handled as the epoll transport does.
  void on_event(shard_context& ctx, connection& c, const io_event& ev) override {
    if (ev.writable && c.io().write_blocked) {
      c.io().write_blocked = false;
      above_.on_writable(ctx, c);
      if (c.state() == conn_state::closed) return;
    }
    if (ev.readable) resume_input(ctx, c);
  }

  void resume_input(shard_context& ctx, connection& c) override {
    if (c.io().fd < 0) {
      ++lost_calls;
      return;
    }
    memory_peer& p = peer(c.io().fd);
    c.io().input_paused = false;
    const std::span<std::uint8_t> buf = ctx.read_buffer;
    for (int round = 0; round < read_rounds; ++round) {
      if (!above_.wants_input(c)) return;  // what is left waits for the next resume
      if (!p.input_pending()) return;      // EAGAIN
      ++p.receives;
      if (p.receives == p.fail_receive_at) {
        p.failed = true;
        above_.on_end(ctx, c, false);
        return;
      }
      if (p.input.empty()) {
        above_.on_end(ctx, c, !p.reset);
        return;
      }
      std::vector<std::uint8_t>& chunk = p.input.front();
      const std::size_t n = std::min(chunk.size(), buf.size());
      std::memcpy(buf.data(), chunk.data(), n);
      if (n == chunk.size()) p.input.pop_front();
      else chunk.erase(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
      above_.on_bytes(ctx, c, buf.first(n));
      if (c.state() == conn_state::closed) return;
    }
    if (p.input_pending()) c.read_later(ctx);  // the read budget is used: other connections first
  }

  void pause_input(shard_context&, connection& c) override { c.io().input_paused = true; }

  void write(shard_context& ctx, connection& c) override {
    if (c.io().fd < 0) {
      ++lost_calls;
      return;
    }
    memory_peer& p = peer(c.io().fd);
    iovec iov[64];
    while (!c.io().write_blocked && c.state() != conn_state::closed) {
      const std::size_t count = above_.gather(c, iov);
      if (count == 0) return;
      if (p.fin) ++p.writes_after_fin;
      if (p.closed) ++p.writes_after_close;
      ++p.sends;
      if (p.sends == p.fail_send_at) {
        p.failed = true;
        above_.on_end(ctx, c, false);
        return;
      }
      std::size_t want = 0;
      for (std::size_t i = 0; i < count; ++i) want += iov[i].iov_len;
      if (p.room == 0) {  // EAGAIN
        c.io().write_blocked = true;
        above_.on_written(ctx, c, 0, true);
        return;
      }
      const std::size_t n = std::min({want, p.room, p.max_write});
      std::size_t left = n;
      for (std::size_t i = 0; i < count && left != 0; ++i) {
        const std::size_t take = std::min(left, iov[i].iov_len);
        const auto* b = static_cast<const std::uint8_t*>(iov[i].iov_base);
        p.output.insert(p.output.end(), b, b + take);
        left -= take;
      }
      if (p.room != unlimited) p.room -= n;
      const bool full = n < want;
      if (full) c.io().write_blocked = true;
      above_.on_written(ctx, c, n, full);
    }
  }

  void shutdown_write(shard_context&, connection& c) override {
    if (c.io().fd < 0) {
      ++lost_calls;
      return;
    }
    memory_peer& p = peer(c.io().fd);
    if (!p.fin) p.output_at_fin = p.output.size();
    p.fin = true;
  }

  void close(shard_context&, connection& c) override {
    if (c.io().fd < 0) return;
    memory_peer& p = peer(c.io().fd);
    p.closed = true;
    ++p.closes;
    c.io().fd = -1;
  }

  std::size_t peers() const noexcept { return peers_.size(); }

  int lost_calls = 0;  // calls for a connection whose descriptor was closed (expected 0)

 private:
  std::vector<std::unique_ptr<memory_peer>> peers_;
};

}  // namespace shoal::gateway::conn_test
