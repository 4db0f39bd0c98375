// The byte stream under a connection, between the reactor and the protocol. A transport reads
// input and hands it up, writes the gather of output it is given and reports what was written,
// half-closes and closes; only transports touch sockets and errno. Kinds: plain TCP on epoll
// (syscalls on readiness), plain TCP on io_uring (completions), TLS as a layer over either
// (OpenSSL through memory BIOs, tls_transport.hpp), and an in-memory one for unit tests.
//
// One transport object per kind per shard, holding no per-connection state: what a connection
// owns of its transport is its `io_link` (descriptor, flags, TLS session), kept in the connection.
// Above a transport is a transport_user: the connection (conn_user.hpp), or the TLS layer above
// a plain transport. A plain transport directly under the connection calls conn_user directly
// (no virtual hop: it is final and known there); under TLS, through this interface. Shard thread
// only.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "gateway/reactor_backend.hpp"

namespace shoal::gateway {

class connection;
struct shard_context;
struct tls_session;

// A connection's share of its transport.
struct io_link {
  int fd = -1;
  std::uint8_t kind = 0;            // index into shard_context::transports
  bool receiving : 1 = false;       // io_uring: a multishot receive is armed
  bool send_in_flight : 1 = false;  // io_uring: a send was submitted; its completion is due
  bool write_blocked : 1 = false;   // the socket is full; room again resumes the writes
  bool input_paused : 1 = false;    // the user wants no input for now
  std::uint32_t write_len = 0;      // bytes of the send in flight (a shorter result: full)
  tls_session* tls = nullptr;       // TLS: the session (tls_transport owns it)
};

// What a transport reports to, and takes its output from.
class transport_user {
 public:
  // Bytes read (the span may be modified in place: the frame decoder unmasks there).
  virtual void on_bytes(shard_context& ctx, connection& c, std::span<std::uint8_t> bytes) = 0;
  // The input ended: the peer's FIN (or TLS close_notify) when `clean`, else an error.
  virtual void on_end(shard_context& ctx, connection& c, bool clean) = 0;
  // False while the user wants no more input (it is holding what it has, or closed).
  virtual bool wants_input(const connection& c) const noexcept = 0;
  // Fills `iov` with the output to write next; returns how many were filled (0: nothing).
  virtual std::size_t gather(connection& c, std::span<iovec> iov) = 0;
  // `n` of the gathered bytes were written; `blocked`: the socket took no more for now.
  virtual void on_written(shard_context& ctx, connection& c, std::size_t n, bool blocked) = 0;
  // The socket has room again after a blocked write.
  virtual void on_writable(shard_context& ctx, connection& c) = 0;
  // A write completed later than the call (io_uring) and more may be gathered: write again on
  // the next pass.
  virtual void write_later(shard_context& ctx, connection& c) = 0;

 protected:
  ~transport_user() = default;
};

class transport {
 public:
  explicit transport(transport_user& above) noexcept : above_(above) {}
  virtual ~transport() = default;
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  // Starts a connection's transport state (TLS: its session); false if it cannot.
  virtual bool open(shard_context& ctx, connection& c) = 0;
  // A reactor event for the connection's descriptor: readiness or an io_uring completion other
  // than a send's.
  virtual void on_event(shard_context& ctx, connection& c, const io_event& ev) = 0;
  // io_uring: the send write() submitted completed (`result`: bytes written, or -errno). The
  // shard hands it over as the ring reports it (uring_backend::finish_sends), without building
  // an io_event; transports that never submit sends ignore it.
  virtual void on_sent(shard_context&, connection&, int /*result*/) {}
  // Input is wanted (again): reads what is there, or arms the receive. May end the connection.
  virtual void resume_input(shard_context& ctx, connection& c) = 0;
  virtual void pause_input(shard_context& ctx, connection& c) = 0;
  // Writes what the user gathers, until it has nothing more or the socket is full; the result
  // comes through on_written, at once (syscalls) or once the send completed (io_uring).
  virtual void write(shard_context& ctx, connection& c) = 0;
  // Sends FIN after everything written so far (TLS: close_notify first).
  virtual void shutdown_write(shard_context& ctx, connection& c) = 0;
  // Releases the connection's transport state and closes its descriptor. Memory a send in
  // flight points at stays the user's until that send's on_written.
  virtual void close(shard_context& ctx, connection& c) = 0;
  // True once the TLS handshake (if any) completed.
  virtual bool secured(const connection&) const noexcept { return true; }
  // Closes up to `budget` descriptors that close() queued; returns how many are still queued.
  // Closing is what a mass disconnect costs (each socket's close is kernel work), so
  // the shard spreads it over loop passes and the healthy connections get their turn between.
  virtual std::size_t finish_closes(shard_context&, std::size_t /*budget*/) { return 0; }

 protected:
  transport_user& above_;
};

// The plain transports of the two backends: directly under the connection (reporting to
// connection::user() without a virtual call), or under another layer, reporting to `above`.
std::unique_ptr<transport> make_epoll_transport();
std::unique_ptr<transport> make_uring_transport();
std::unique_ptr<transport> make_epoll_transport(transport_user& above);
std::unique_ptr<transport> make_uring_transport(transport_user& above);

// Transport kinds as indices into shard_context::transports.
enum transport_kind : std::uint8_t { plain_transport = 0, tls_transport_kind = 1, transport_kinds = 2 };

}  // namespace shoal::gateway
