// The TLS layer (see tls_transport.hpp). One BIO per session, of a method of our own: reads take
// ciphertext from the span the plain transport just received, writes append to the session's
// output buffer. OpenSSL keeps a partial record in its own buffer between reads, so a read
// consumes all that it is given unless the connection stops wanting input, in which case the
// rest is kept in `held` until it wants input again.
#include "gateway/tls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "gateway/connection.hpp"

namespace shoal::gateway {
namespace {

constexpr std::size_t record_max = 16384;         // plaintext of one TLS record (RFC 8446 §5.1)
constexpr std::size_t cipher_bound = 4 * 18432;   // ciphertext encrypted ahead of the socket
constexpr std::size_t max_iov = 1024;
constexpr std::size_t spare_buffers = 64;  // ciphertext buffers a shard keeps between bursts

int bio_write(BIO* b, const char* data, int len) {
  auto* s = static_cast<tls_session*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  s->out.insert(s->out.end(), reinterpret_cast<const std::uint8_t*>(data),
                reinterpret_cast<const std::uint8_t*>(data) + len);
  return len;
}

int bio_read(BIO* b, char* data, int len) {
  auto* s = static_cast<tls_session*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (s->in.empty()) {
    BIO_set_retry_read(b);
    return -1;
  }
  const std::size_t n = std::min(s->in.size(), static_cast<std::size_t>(len));
  std::memcpy(data, s->in.data(), n);
  s->in = s->in.subspan(n);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* memory_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "shoal-tls");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

// The plaintext of one record: a record's worth read out of the output queue (taken in place
// when one range holds it, else gathered into the shard's record buffer).
thread_local std::array<std::uint8_t, record_max> plain_buffer;

}  // namespace

tls_session::~tls_session() {
  if (ssl) SSL_free(ssl);  // frees the BIO with it
}

tls_transport::tls_transport(transport_user& above, const tls_store& store,
                             std::unique_ptr<transport> (*make_inner)(transport_user&))
    : transport(above), store_(&store), inner_(make_inner(*this)) {}

tls_transport::tls_transport(transport_user& above, std::shared_ptr<const tls_context> context)
    : transport(above), context_(std::move(context)) {}

const tls_context* tls_transport::context() {
  // The certificates changed (SIGHUP): take the new context; connections already accepted keep
  // the one they were accepted with (their SSL holds a reference to it).
  if (store_) {
    const std::uint64_t generation = store_->generation();
    if (generation != generation_) {
      context_ = store_->get();
      generation_ = generation;
    }
  }
  return context_.get();
}

bool tls_transport::open(shard_context& ctx, connection& c) {
  const tls_context* tls = context();
  SSL* ssl = tls ? tls->new_session() : nullptr;
  if (!ssl) return false;
  BIO* bio = BIO_new(memory_method());
  if (!bio) {
    SSL_free(ssl);
    return false;
  }
  auto* s = new tls_session;
  s->ssl = ssl;
  BIO_set_data(bio, s);
  SSL_set_bio(ssl, bio, bio);  // one reference, for both directions
  c.io().tls = s;
  return inner_->open(ctx, c);
}

void tls_transport::on_event(shard_context& ctx, connection& c, const io_event& ev) {
  inner_->on_event(ctx, c, ev);
}

void tls_transport::on_sent(shard_context& ctx, connection& c, int result) { inner_->on_sent(ctx, c, result); }

bool tls_transport::secured(const connection& c) const noexcept {
  const tls_session* s = c.io().tls;
  return s && s->ready;
}

bool tls_transport::wants_input(const connection& c) const noexcept { return above_.wants_input(c); }

void tls_transport::on_bytes(shard_context& ctx, connection& c, std::span<std::uint8_t> bytes) {
  if (c.awaiting_proxy()) [[unlikely]] {
    // A PROXY header comes before the TLS stream: the connection takes it off the front.
    bytes = bytes.subspan(c.take_proxy_header(ctx, bytes));
    if (c.state() == conn_state::closed || bytes.empty()) return;
  }
  tls_session& s = *c.io().tls;
  if (!s.held.empty() || !above_.wants_input(c)) {
    s.held.insert(s.held.end(), bytes.begin(), bytes.end());
    return;
  }
  s.in = bytes;
  decrypt(ctx, c, s);
}

void tls_transport::decrypt(shard_context& ctx, connection& c, tls_session& s) {
  for (;;) {
    if (!above_.wants_input(c)) {
      s.held.insert(s.held.end(), s.in.begin(), s.in.end());
      s.in = {};
      break;
    }
    std::size_t n = 0;
    lend_buffer(s);  // the handshake, alerts and session tickets write too
    ERR_clear_error();
    const int ok = SSL_read_ex(s.ssl, plain_buffer.data(), plain_buffer.size(), &n);
    if (!s.ready && SSL_is_init_finished(s.ssl)) {
      s.ready = true;
      shard_metrics::add(ctx.metrics.tls_handshakes);
    }
    if (ok == 1) {
      above_.on_bytes(ctx, c, {plain_buffer.data(), n});
      if (c.state() == conn_state::closed) return;  // `s` is gone
      continue;
    }
    const int err = SSL_get_error(s.ssl, 0);
    if (err == SSL_ERROR_WANT_READ) break;  // all of `in` is inside OpenSSL now
    ERR_clear_error();
    // close_notify is the peer's FIN in TLS terms; anything else is a bad record or handshake,
    // not TLS at all, or a broken stream.
    above_.on_end(ctx, c, err == SSL_ERROR_ZERO_RETURN);
    return;
  }
  s.in = {};
  if (!s.out.empty()) c.request_flush(ctx);  // handshake records, alerts, session tickets
  else if (s.sent == s.sending.size()) return_buffers(s);
}

void tls_transport::lend_buffer(tls_session& s) {
  if (s.out.capacity() != 0 || spares_.empty()) return;
  s.out = std::move(spares_.back());
  spares_.pop_back();
}

void tls_transport::return_buffers(tls_session& s) {
  for (std::vector<std::uint8_t>* b : {&s.out, &s.sending}) {
    if (b->capacity() == 0) continue;
    b->clear();
    if (spares_.size() < spare_buffers && b->capacity() <= 2 * cipher_bound) spares_.push_back(std::move(*b));
    *b = {};
  }
  s.sent = 0;
}

void tls_transport::resume_input(shard_context& ctx, connection& c) {
  tls_session* s = c.io().tls;
  if (!s) return;
  // What was held back, and plaintext OpenSSL may still hold, first.
  std::vector<std::uint8_t> held;
  held.swap(s->held);
  s->in = held;
  decrypt(ctx, c, *s);
  if (c.state() == conn_state::closed || !above_.wants_input(c)) return;
  inner_->resume_input(ctx, c);
}

bool tls_transport::encrypt(shard_context& ctx, connection& c, tls_session& s) {
  iovec iov[max_iov];
  const std::size_t count = above_.gather(c, iov);
  std::size_t i = 0;
  std::size_t skip = s.plain_taken;  // already encrypted, waiting for its ciphertext to go out
  while (i < count && skip >= iov[i].iov_len) skip -= iov[i++].iov_len;
  while (i < count && s.out.size() < cipher_bound) {
    // One record: in place when this range holds it, else small ranges gathered.
    const auto* p = static_cast<const std::uint8_t*>(iov[i].iov_base) + skip;
    std::size_t len = iov[i].iov_len - skip;
    if (len >= record_max || i + 1 == count) {
      len = std::min(len, record_max);
      skip += len;
      if (skip == iov[i].iov_len) ++i, skip = 0;
    } else {
      std::vector<std::uint8_t>& rec = ctx.tls_record;
      rec.clear();
      while (i < count && rec.size() < record_max) {
        const auto* q = static_cast<const std::uint8_t*>(iov[i].iov_base) + skip;
        const std::size_t take = std::min(iov[i].iov_len - skip, record_max - rec.size());
        rec.insert(rec.end(), q, q + take);
        skip += take;
        if (skip == iov[i].iov_len) ++i, skip = 0;
      }
      p = rec.data();
      len = rec.size();
    }
    std::size_t written = 0;
    lend_buffer(s);
    ERR_clear_error();
    if (SSL_write_ex(s.ssl, p, len, &written) != 1 || written != len) {
      ERR_clear_error();
      return false;  // a memory BIO never blocks: only a broken session fails here
    }
    s.plain_taken += written;
  }
  return true;
}

void tls_transport::write(shard_context& ctx, connection& c) {
  tls_session* s = c.io().tls;
  if (!s || !s->ready) {
    // The handshake: new records, or the rest of a flight the socket took only part of.
    if (s && (!s->out.empty() || s->sent != s->sending.size()) && !c.io().send_in_flight)
      inner_->write(ctx, c);
    return;
  }
  for (;;) {
    const io_link& l = c.io();
    if (l.send_in_flight || l.write_blocked) return;
    if (!encrypt(ctx, c, *s)) {
      above_.on_end(ctx, c, false);
      return;
    }
    if (s->out.empty() && s->sent == s->sending.size()) return;  // nothing to send
    inner_->write(ctx, c);
    if (c.state() == conn_state::closed) return;  // `s` may be gone
    if (!has_output(c, *s)) return;
  }
}

bool tls_transport::has_output(connection& c, const tls_session& s) {
  if (!s.out.empty() || s.sent != s.sending.size()) return true;
  return s.ready && c.buffered() > s.plain_taken;  // plaintext not encrypted yet
}

std::size_t tls_transport::gather(connection& c, std::span<iovec> iov) {
  tls_session& s = *c.io().tls;
  if (s.sent == s.sending.size()) {
    s.sending.clear();
    s.sent = 0;
    s.sending.swap(s.out);
  }
  if (s.sent == s.sending.size() || iov.empty()) return 0;
  iov[0] = {s.sending.data() + s.sent, s.sending.size() - s.sent};
  return 1;
}

void tls_transport::on_written(shard_context& ctx, connection& c, std::size_t n, bool blocked) {
  tls_session* s = c.io().tls;
  if (c.state() == conn_state::closed) {  // a send completed after the close: free now
    if (s && s->closed) {
      delete s;
      c.io().tls = nullptr;
    }
    above_.on_written(ctx, c, 0, false);
    return;
  }
  s->sent += n;
  if (s->sent != s->sending.size() || !s->out.empty()) return;
  // Every byte of ciphertext is written: the plaintext behind it has left.
  return_buffers(*s);
  const std::size_t plain = s->plain_taken;
  s->plain_taken = 0;
  if (plain != 0) {
    above_.on_written(ctx, c, plain, blocked);
    if (c.state() == conn_state::closed) return;  // `s` is gone
  }
  if (s->shutdown_pending && s->out.empty()) {
    s->shutdown_pending = false;
    inner_->shutdown_write(ctx, c);
  }
}

void tls_transport::write_later(shard_context& ctx, connection& c) {
  if (tls_session* s = c.io().tls; s && has_output(c, *s)) c.request_flush(ctx);
}

void tls_transport::shutdown_write(shard_context& ctx, connection& c) {
  tls_session* s = c.io().tls;
  if (!s) return;
  lend_buffer(*s);
  ERR_clear_error();
  SSL_shutdown(s->ssl);  // our close_notify; the peer's is not awaited (RFC 8446 §6.1)
  ERR_clear_error();
  s->shutdown_pending = true;
  if (s->out.empty() && s->sent == s->sending.size()) {
    s->shutdown_pending = false;
    inner_->shutdown_write(ctx, c);
    return;
  }
  c.request_flush(ctx);
}

void tls_transport::on_end(shard_context& ctx, connection& c, bool clean) { above_.on_end(ctx, c, clean); }

void tls_transport::close(shard_context& ctx, connection& c) {
  if (tls_session* s = c.io().tls) {
    if (!s->ready) shard_metrics::add(ctx.metrics.tls_handshakes_failed);
    if (c.io().send_in_flight) {
      s->closed = true;  // the send points into it: freed when it completes (on_written)
    } else {
      delete s;
      c.io().tls = nullptr;
    }
  }
  inner_->close(ctx, c);
}

}  // namespace shoal::gateway
