// TLS as a layer over a plain transport (epoll, io_uring, or the tests' in-memory one): OpenSSL
// reads ciphertext from, and writes it to, BIOs of our own over memory, so OpenSSL never
// touches a socket and TLS needs no I/O path of its own on either backend. Ciphertext received
// is handed to OpenSSL in place (no copy into a BIO buffer); records OpenSSL writes go into the
// session's buffer, which the plain transport below writes like any other output.
//
// Plaintext leaves the connection's queue only once its ciphertext is written to the socket,
// so "buffered" keeps counting it and a close after the last frame cannot cut it off.
// Shard thread only; one tls_transport per shard, one tls_session per TLS connection.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gateway/tls_context.hpp"
#include "gateway/transport.hpp"

namespace shoal::gateway {

struct tls_session {
  SSL* ssl = nullptr;
  std::span<const std::uint8_t> in;  // ciphertext OpenSSL may read now (the read BIO's source)
  std::vector<std::uint8_t> held;    // ciphertext received while the connection held its input
  std::vector<std::uint8_t> out;     // ciphertext written by OpenSSL, not yet handed below
  std::vector<std::uint8_t> sending;  // ciphertext handed below; stays put while a send is in flight
  std::size_t sent = 0;               // of `sending`, written
  std::size_t plain_taken = 0;        // plaintext encrypted whose ciphertext is not all written
  bool ready = false;                 // the handshake completed
  bool shutdown_pending = false;      // FIN once the ciphertext is written (after close_notify)
  bool closed = false;                // the connection closed with a send in flight
  ~tls_session();
};

class tls_transport final : public transport, private transport_user {
 public:
  // `make_inner` builds the plain transport below, reporting to this layer.
  tls_transport(transport_user& above, const tls_store& store,
                std::unique_ptr<transport> (*make_inner)(transport_user&));
  // For tests: over a given inner transport (built with inner_user() as its user).
  tls_transport(transport_user& above, std::shared_ptr<const tls_context> context);
  void set_inner(std::unique_ptr<transport> inner) { inner_ = std::move(inner); }
  transport_user& inner_user() noexcept { return *this; }

  bool open(shard_context& ctx, connection& c) override;
  // Out of line, though they only forward: inline, the compiler guessed at every call site
  // that a plain connection's transport might be this one and unrolled its guess a few levels
  // deep (speculative devirtualization): 6 instructions per event in the io_uring echo.
  void on_event(shard_context& ctx, connection& c, const io_event& ev) override;
  void on_sent(shard_context& ctx, connection& c, int result) override;
  void resume_input(shard_context& ctx, connection& c) override;
  void pause_input(shard_context& ctx, connection& c) override { inner_->pause_input(ctx, c); }
  void write(shard_context& ctx, connection& c) override;
  void shutdown_write(shard_context& ctx, connection& c) override;
  void close(shard_context& ctx, connection& c) override;
  bool secured(const connection& c) const noexcept override;
  std::size_t finish_closes(shard_context& ctx, std::size_t budget) override {
    return inner_->finish_closes(ctx, budget);
  }

 private:
  // transport_user: the plain transport below reports here.
  void on_bytes(shard_context& ctx, connection& c, std::span<std::uint8_t> bytes) override;
  void on_end(shard_context& ctx, connection& c, bool clean) override;
  bool wants_input(const connection& c) const noexcept override;
  std::size_t gather(connection& c, std::span<iovec> iov) override;
  void on_written(shard_context& ctx, connection& c, std::size_t n, bool blocked) override;
  void on_writable(shard_context& ctx, connection& c) override { above_.on_writable(ctx, c); }
  void write_later(shard_context& ctx, connection& c) override;

  // Decrypts what `in` holds and hands the plaintext up, while the connection wants it.
  void decrypt(shard_context& ctx, connection& c, tls_session& s);
  // Encrypts the connection's queued plaintext into `out`, up to the ciphertext bound.
  bool encrypt(shard_context& ctx, connection& c, tls_session& s);
  bool has_output(connection& c, const tls_session& s);
  const tls_context* context();
  // Ciphertext buffers come from the shard's spares while a session has bytes to write and go
  // back once all are written, so an idle TLS connection holds none and a busy one allocates
  // nothing per message.
  void lend_buffer(tls_session& s);
  void return_buffers(tls_session& s);

  std::vector<std::vector<std::uint8_t>> spares_;
  const tls_store* store_ = nullptr;
  std::shared_ptr<const tls_context> context_;  // this shard's copy of the store's
  std::uint64_t generation_ = 0;
  std::unique_ptr<transport> inner_;
};

}  // namespace shoal::gateway
