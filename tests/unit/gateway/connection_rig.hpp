// A socket-free shard for connection tests: the shard_context shard.cpp builds (settings,
// metrics, server state, timer wheel, pools, the dirty / read_again / closed lists), the
// in-memory transport (plain, and TLS over it), and loop passes run as shard::run runs them;
// time is ctx.now, moved by hand. With it, a test-side WebSocket client (masked frames out, the
// server's frames decoded) and a TLS client on memory BIOs with a self-signed certificate made
// here. Test thread only; nothing here reads a clock or sleeps.
#pragma once

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/frame_decoder.hpp"
#include "core/frame_encoder.hpp"
#include "core/handshake.hpp"
#include "gateway/conn_pools.hpp"
#include "gateway/conn_user.hpp"
#include "gateway/connection.hpp"
#include "gateway/tls_transport.hpp"
#include "memory_transport.hpp"

namespace shoal::gateway::conn_test {

using bytes = std::vector<std::uint8_t>;

// An upgrade to /echo with RFC 6455 §1.3's example key (its accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=).
inline constexpr std::string_view upgrade_request =
    "GET /echo HTTP/1.1\r\nHost: shoal.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
inline std::string upgrade_response() { return core::build_upgrade_response("dGhlIHNhbXBsZSBub25jZQ=="); }

inline bytes to_bytes(std::string_view s) { return {s.begin(), s.end()}; }
inline void append(bytes& out, std::span<const std::uint8_t> more) { out.insert(out.end(), more.begin(), more.end()); }
inline void append(bytes& out, std::string_view more) { out.insert(out.end(), more.begin(), more.end()); }

// Client frames: masked, with fresh keys (§5.3).
inline bytes client_frame(core::opcode op, std::string_view payload, bool fin = true) {
  static core::frame_encoder encoder(core::role::client);
  bytes out;
  encoder.append_frame(out, op, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, fin);
  return out;
}
inline bytes client_close(std::uint16_t code, std::string_view reason = {}) {
  std::uint8_t body[core::max_control_payload];
  const std::size_t n = core::encode_close_body(body, static_cast<core::close_code>(code), reason);
  return client_frame(core::opcode::close, {reinterpret_cast<const char*>(body), n});
}
inline bytes text_frame(std::string_view payload) { return client_frame(core::opcode::text, payload); }

// A frame the server sent: data frames as whole messages (fragments joined), control frames
// as they came.
struct ws_frame {
  core::opcode op = core::opcode::text;
  std::string payload;
  std::uint16_t close_code() const {
    const auto b = core::parse_close_body({reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
    return b.code;
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
};

// Reads what the server wrote: HTTP responses (head and Content-Length body) until a 101, then
// WebSocket frames.
class ws_reader {
 public:
  void read(std::string_view more) {
    buf_.append(more);
    for (;;) {
      if (!upgraded_) {
        const std::size_t end = buf_.find("\r\n\r\n");
        if (end == std::string::npos) return;
        std::size_t len = end + 4;
        const std::string head = buf_.substr(0, len);
        if (const std::size_t at = head.find("Content-Length: "); at != std::string::npos) {
          std::size_t body = 0;
          std::from_chars(head.data() + at + 16, head.data() + head.size(), body);
          if (buf_.size() < len + body) return;
          len += body;
        }
        responses.push_back(buf_.substr(0, len));
        upgraded_ = head.starts_with("HTTP/1.1 101 ");
        buf_.erase(0, len);
        continue;
      }
      if (buf_.empty() || error) return;
      std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(buf_.data()), buf_.size());
      const core::decode_event ev = decoder_.next(in);
      std::string chunk(reinterpret_cast<const char*>(ev.payload.data()), ev.payload.size());
      buf_.erase(0, ev.consumed);
      switch (ev.status) {
        case core::decode_status::need_more:
          return;
        case core::decode_status::error:
          error = true;
          return;
        case core::decode_status::control:
          frames.push_back({ev.op, std::move(chunk)});
          break;
        case core::decode_status::data:
          if (ev.first) message_ = {ev.op, {}};
          message_.payload += chunk;
          if (ev.last) frames.push_back(std::move(message_));
          break;
      }
    }
  }

  std::vector<std::string> responses;
  std::vector<ws_frame> frames;
  bool error = false;

 private:
  std::string buf_;
  bool upgraded_ = false;
  core::frame_decoder decoder_{core::decoder_options{core::role::client, 1u << 24, false}};
  ws_frame message_;
};

// The shard around the connections: what shard.cpp builds, minus sockets, reactor and hub.
class rig {
 public:
  explicit rig(std::shared_ptr<const tls_context> tls_context = nullptr)
      : ctx{settings, metrics, server, timers, read_buffer, dirty, read_again, closed, pools, 0, nullptr,
            {}, nullptr, {}, {}, {}, nullptr, nullptr, {}, nullptr, {}, 0} {
    ctx.transports[plain_transport] = &plain;
    if (tls_context) {
      tls = std::make_unique<tls_transport>(connection::user(), std::move(tls_context));
      auto inner = std::make_unique<memory_transport>(tls->inner_user());
      tls_inner = inner.get();
      tls->set_inner(std::move(inner));
      ctx.transports[tls_transport_kind] = tls.get();
    }
  }
  rig(const rig&) = delete;
  rig& operator=(const rig&) = delete;
  ~rig() { conns.clear(); }  // before the wheel, the pools and the transports

  // Accepts a connection as shard::admit does, and starts it; returns its index.
  std::size_t accept(transport_kind kind = plain_transport) {
    memory_transport& t = kind == plain_transport ? plain : *tls_inner;
    const int fd = t.add_peer();
    server.connections.fetch_add(1);
    shard_metrics::add(metrics.connections_accepted);
    shard_metrics::add(metrics.connections_open);
    const std::size_t i = conns.size();
    conns.push_back({std::make_unique<connection>(fd, next_token_++, kind, ctx), &t.peer(fd)});
    conns[i].conn->start(ctx);
    return i;
  }

  connection* conn(std::size_t i) { return conns.at(i).conn.get(); }
  memory_peer& peer(std::size_t i) { return *conns.at(i).peer; }
  // The connection's state; closed once the pass freed it.
  conn_state state(std::size_t i) { return conn(i) ? conn(i)->state() : conn_state::closed; }
  bool wants_input(std::size_t i) { return conn(i) && connection::user().wants_input(*conn(i)); }

  // One loop pass, in shard::run's order: reactor events (new input; room after a blocked
  // write), read_again, timers at ctx.now, one flush per dirty connection, free the closed.
  void pass() {
    for (entry& e : conns) {
      if (!e.conn || e.conn->state() == conn_state::closed) continue;
      io_event ev;
      ev.token = e.conn->token();
      ev.readable = e.peer->readable_event;
      e.peer->readable_event = false;
      ev.writable = e.conn->io().write_blocked && e.peer->room != 0;
      if (ev.readable || ev.writable) e.conn->on_event(ctx, ev);
    }
    if (!read_again.empty()) {
      std::vector<connection*> again;
      again.swap(read_again);
      for (connection* c : again) {
        c->in_read_again_list = false;
        if (c->state() != conn_state::closed) c->on_readable(ctx);
      }
    }
    timers.advance(ctx.now, [this](timer_node& node) { connection::of_timer(node).on_timer(ctx); });
    for (std::size_t i = 0; i < dirty.size(); ++i) dirty[i]->flush(ctx);
    dirty.clear();
    for (connection* c : closed) {
      if (c->in_read_again_list) std::erase(read_again, c);
      for (entry& e : conns)
        if (e.conn.get() == c) e.conn.reset();
    }
    closed.clear();
    ++passes;
  }

  // True if another pass would do something.
  bool busy() const {
    if (!read_again.empty() || !dirty.empty() || !closed.empty()) return true;
    for (const entry& e : conns) {
      if (!e.conn || e.conn->state() == conn_state::closed) continue;
      if (e.peer->readable_event || (e.conn->io().write_blocked && e.peer->room != 0)) return true;
    }
    return false;
  }
  // Passes until nothing moves (bounded: a connection that keeps itself busy is a bug).
  void settle() {
    for (int i = 0; i < 100000; ++i) {
      pass();
      if (!busy()) return;
    }
    ADD_FAILURE() << "the connections never settle";
  }
  // Time passes (ticks), then the passes it takes to settle.
  void advance(std::uint64_t ticks) {
    ctx.now += ticks;
    settle();
  }

  // Everything the rig counts back at zero once every connection is gone.
  void expect_all_released() {
    EXPECT_EQ(metrics.connections_open.load(), 0u);
    EXPECT_EQ(server.connections.load(), 0u);
    EXPECT_EQ(metrics.websocket_open.load(), 0u);
    EXPECT_EQ(metrics.buffered_bytes.load(), 0u);
    EXPECT_EQ(metrics.paused_reads.load(), 0u);
    EXPECT_EQ(metrics.inputs_held.load(), 0u);
    EXPECT_EQ(plain.lost_calls, 0);
    if (tls_inner) {
      EXPECT_EQ(tls_inner->lost_calls, 0);
    }
  }

  connection_settings settings;
  shard_metrics metrics;
  server_state server;
  timer_wheel timers;
  std::vector<std::uint8_t> read_buffer = std::vector<std::uint8_t>(16384);
  std::vector<connection*> dirty, read_again, closed;
  conn_pools pools;
  shard_context ctx;
  memory_transport plain{connection::user()};
  std::unique_ptr<tls_transport> tls;
  memory_transport* tls_inner = nullptr;
  int passes = 0;

 private:
  struct entry {
    std::unique_ptr<connection> conn;
    memory_peer* peer;
  };
  std::vector<entry> conns;
  std::uint64_t next_token_ = 1;
};

// A self-signed P-256 certificate for "localhost", made once per process and loaded as the
// server's tls_context (files in the test's temporary directory).
inline std::shared_ptr<const tls_context> test_tls_context() {
  static const std::shared_ptr<const tls_context> context = [] {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
    if (X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost")) {
      X509_add_ext(cert, san, -1);
      X509_EXTENSION_free(san);
    }
    X509_sign(cert, key, EVP_sha256());
    // Named per process: ctest runs each test in its own process, several at once.
    const std::string stem = testing::TempDir() + "connection_test_" + std::to_string(::getpid());
    tls_config cfg;
    cfg.cert = stem + "_cert.pem";
    cfg.key = stem + "_key.pem";
    FILE* f = std::fopen(cfg.cert.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(cfg.key.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
    std::string error;
    auto loaded = tls_context::load(cfg, error);
    std::remove(cfg.cert.c_str());
    std::remove(cfg.key.c_str());
    if (!loaded) {
      std::fprintf(stderr, "connection tests: the test certificate does not load: %s\n", error.c_str());
      std::abort();
    }
    return loaded;
  }();
  return context;
}

// The client's end of a TLS connection, on two memory BIOs: ciphertext from the server goes in
// with receive(), ciphertext for the server comes out of outgoing().
class tls_client {
 public:
  tls_client() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // self-signed: not what is tested
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
  }
  ~tls_client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

  void receive(std::string_view ciphertext) {
    if (!ciphertext.empty()) BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size()));
  }
  // Plaintext to send: one SSL_write (one record, if small) per call, once the handshake is done.
  void send(std::span<const std::uint8_t> text) { pending_.emplace_back(text.begin(), text.end()); }
  void send(std::string_view text) { send(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())); }
  // Our close_notify.
  void close_notify() { SSL_shutdown(ssl_); }

  // Moves the handshake on, writes pending plaintext, reads what plaintext arrived.
  void step() {
    if (!SSL_is_init_finished(ssl_)) {
      if (SSL_do_handshake(ssl_) != 1) {
        const int err = SSL_get_error(ssl_, 0);
        if (err != SSL_ERROR_WANT_READ) failed = true;
        return;
      }
    }
    for (const bytes& b : pending_) {
      std::size_t n = 0;
      if (SSL_write_ex(ssl_, b.data(), b.size(), &n) != 1 || n != b.size()) failed = true;
    }
    pending_.clear();
    char buf[16384];
    for (;;) {
      std::size_t n = 0;
      if (SSL_read_ex(ssl_, buf, sizeof buf, &n) == 1) {
        plain.append(buf, n);
        continue;
      }
      const int err = SSL_get_error(ssl_, 0);
      if (err == SSL_ERROR_ZERO_RETURN) got_close_notify = true;
      else if (err != SSL_ERROR_WANT_READ) failed = true;
      return;
    }
  }
  bytes outgoing() {
    bytes b(static_cast<std::size_t>(BIO_ctrl_pending(out_)));
    if (!b.empty()) BIO_read(out_, b.data(), static_cast<int>(b.size()));
    return b;
  }
  bool handshake_done() const { return SSL_is_init_finished(ssl_); }

  std::string plain;  // plaintext received
  bool got_close_notify = false;
  bool failed = false;

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // server → client
  BIO* out_ = nullptr;  // client → server
  std::vector<bytes> pending_;
};

// How the client's ciphertext is cut into receives.
using feeder = std::function<void(memory_peer&, std::span<const std::uint8_t>)>;
inline void feed_whole(memory_peer& p, std::span<const std::uint8_t> b) { p.feed(b); }
inline void feed_bytewise(memory_peer& p, std::span<const std::uint8_t> b) { p.feed_bytewise(b); }

// Runs the rig and the TLS client against each other until neither has anything to say.
inline void exchange(rig& r, std::size_t i, tls_client& client, const feeder& feed = feed_whole) {
  for (int round = 0; round < 1000; ++round) {
    r.settle();
    const std::string in = r.peer(i).take();
    client.receive(in);
    client.step();
    const bytes out = client.outgoing();
    if (!out.empty() && r.state(i) != conn_state::closed) feed(r.peer(i), out);
    if (in.empty() && out.empty()) return;
  }
  ADD_FAILURE() << "the TLS exchange never settles";
}

}  // namespace shoal::gateway::conn_test
