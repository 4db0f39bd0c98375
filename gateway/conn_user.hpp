// The transports' user for a connection (see transport.hpp): one stateless object for every
// connection, forwarding what a transport reports to it. Defined here, with the calls inline and
// the class final, so that the plain transports, which know their user is this one when they sit
// directly under the connection, call the connection without a virtual hop (plain_transport.cpp);
// the TLS layer, and the tests' in-memory transport, reach it through transport_user. Shard
// thread only.
#pragma once

#include "gateway/connection.hpp"
#include "gateway/out_queue.hpp"

namespace shoal::gateway {

class conn_user final : public transport_user {
 public:
  void on_bytes(shard_context& ctx, connection& c, std::span<std::uint8_t> bytes) override {
    c.on_bytes(ctx, bytes);
  }
  void on_end(shard_context& ctx, connection& c, bool) override {
    // The peer's FIN (or an error). In lingering or closing this ends the close; anywhere else
    // the peer vanished without a closing handshake (1006, nothing to send).
    c.abort(ctx);
  }
  bool wants_input(const connection& c) const noexcept override {
    return c.state_ != conn_state::closed && !c.input_stopped();
  }
  std::size_t gather(connection& c, std::span<iovec> iov) override {
    return c.out_ ? c.out_->queue.gather(iov) : 0;
  }
  void on_written(shard_context& ctx, connection& c, std::size_t n, bool) override {
    c.on_written(ctx, n);
  }
  void on_writable(shard_context& ctx, connection& c) override { c.request_flush(ctx); }
  void write_later(shard_context& ctx, connection& c) override {
    if (c.buffered() != 0) c.request_flush(ctx);  // more than one send takes
  }
};

}  // namespace shoal::gateway
