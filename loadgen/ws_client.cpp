// Client connection state machine: idle -> connecting -> handshaking [-> authenticating] -> open
// -> closed. Owning worker thread only. Every failure goes through fail(), which closes the
// socket once and tells the handler once.
#include "loadgen/ws_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/deflate_pool.hpp"
#include "core/extension_offer.hpp"
#include "core/handshake.hpp"
#include "loadgen/pacer.hpp"
#include "loadgen/token_plan.hpp"

namespace shoal::loadgen {
namespace {

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto a = static_cast<unsigned char>(line[i]);
    const auto b = static_cast<unsigned char>(name[i]);
    if (std::tolower(a) != std::tolower(b)) return false;
  }
  return true;
}

// "HTTP 401" from the status line "HTTP/1.1 401 Unauthorized": how a report counts refusals.
std::string http_status_failure(std::string_view status_line) {
  const std::size_t sp = status_line.find(' ');
  const std::string_view code = sp == std::string_view::npos ? std::string_view{} : status_line.substr(sp + 1, 3);
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "HTTP: malformed status line";
  return "HTTP " + std::string(code);
}

// At most 200 bytes of a server message, for a failure's reason.
std::string_view excerpt(std::string_view text) { return text.substr(0, 200); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// What the load generator offers: no context takeover either way, so one compressor and one
// decompressor per thread serve all its connections (and the server compresses a broadcast once).
const core::deflate_client_offer& deflate_offer() {
  static const core::deflate_client_offer offer{true, true, 0, true, 0};
  return offer;
}

// The thread's shared permessage-deflate codecs and buffers (see the file comment of ws_client.hpp).
struct thread_codecs {
  core::deflate_pool pool;
  std::vector<std::uint8_t> inflated;
  std::vector<std::uint8_t> frame;
};
thread_codecs& codecs() {
  thread_local thread_codecs c;
  return c;
}

}  // namespace

ws_client::~ws_client() {
  if (ssl_) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

ssize_t ws_client::read_some(std::uint8_t* buf, std::size_t n) {
  if (!ssl_) return ::recv(fd_, buf, n, 0);
  std::size_t got = 0;
  ERR_clear_error();
  if (SSL_read_ex(ssl_, buf, n, &got) == 1) return static_cast<ssize_t>(got);
  switch (SSL_get_error(ssl_, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    default:
      ERR_clear_error();
      errno = EPROTO;  // a TLS failure (bad certificate, bad record) or the socket's error
      return -1;
  }
}

ssize_t ws_client::write_some(const std::uint8_t* buf, std::size_t n) {
  if (!ssl_) return ::send(fd_, buf, n, MSG_NOSIGNAL);
  // Partial writes and a moving buffer are enabled on the context (loadgen main), so a retry
  // may pass more bytes, from a reallocated queue, as OpenSSL allows then.
  std::size_t put = 0;
  ERR_clear_error();
  if (SSL_write_ex(ssl_, buf, n, &put) == 1) return static_cast<ssize_t>(put);
  switch (SSL_get_error(ssl_, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      errno = EAGAIN;
      return -1;
    default:
      ERR_clear_error();
      errno = EPROTO;
      return -1;
  }
}

bool ws_client::start(int epoll_fd, std::string& error) {
  started_ns_ = now_ns();
  fd_ = ::socket(target_->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    failure_ = error;
    state_ = client_state::closed;
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!target_->sources.empty() && target_->addr.ss_family == AF_INET) {
    // The port is chosen at connect() time per 4-tuple, so each source address gives its own
    // ~28k ephemeral ports towards the one server address.
    ::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    const sockaddr_in& src = target_->sources[id_ % target_->sources.size()];
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
      error = std::string("bind to --source address: ") + std::strerror(errno);
      failure_ = error;
      ::close(fd_);
      fd_ = -1;
      state_ = client_state::closed;
      return false;
    }
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = id_;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd_, &ev) != 0) {
    error = std::string("epoll_ctl: ") + std::strerror(errno);
    failure_ = error;
    ::close(fd_);
    fd_ = -1;
    state_ = client_state::closed;
    return false;
  }
  const int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&target_->addr), target_->addr_len);
  if (rc != 0 && errno != EINPROGRESS) {
    error = std::string("connect: ") + std::strerror(errno);
    failure_ = error;
    ::close(fd_);
    fd_ = -1;
    state_ = client_state::closed;
    return false;
  }
  state_ = client_state::connecting;
  return true;
}

void ws_client::write_handshake() {
  std::array<unsigned char, 16> raw{};
  RAND_bytes(raw.data(), static_cast<int>(raw.size()));
  std::array<unsigned char, 32> b64{};
  const int n = EVP_EncodeBlock(b64.data(), raw.data(), static_cast<int>(raw.size()));
  key_.assign(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n));
  const bool in_query = !token_.empty() && target_->token_in == token_placement::query;
  std::string req = "GET " + (in_query ? request_target_with_token(target_->path, token_) : target_->path) +
                    " HTTP/1.1\r\nHost: " + target_->host +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
                    "\r\nSec-WebSocket-Version: 13\r\n";
  if (!token_.empty() && target_->token_in == token_placement::header) req += bearer_header(token_);
  if (!target_->protocol.empty()) req += "Sec-WebSocket-Protocol: " + target_->protocol + "\r\n";
  if (target_->deflate) req += "Sec-WebSocket-Extensions: " + core::format_deflate_offer(deflate_offer()) + "\r\n";
  req += "\r\n";
  out_.insert(out_.end(), req.begin(), req.end());
}

void ws_client::on_io(std::uint32_t events, ws_handler& h, core::frame_encoder& enc,
                      std::span<std::uint8_t> scratch) {
  if (state_ == client_state::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(h, std::strerror(err));
    if ((events & EPOLLOUT) == 0) return;  // not connected yet
    state_ = client_state::handshaking;
    if (target_->tls) {
      // The TLS handshake runs inside the first SSL_write (the upgrade request) and reads.
      ssl_ = SSL_new(target_->tls_ctx);
      if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1 ||
          SSL_set_tlsext_host_name(ssl_, target_->server_name.c_str()) != 1 ||
          SSL_set1_host(ssl_, target_->server_name.c_str()) != 1)
        return fail(h, "cannot set up TLS");
      SSL_set_connect_state(ssl_);
    }
    write_handshake();
  }
  if ((events & EPOLLOUT) != 0 && queued_bytes() > 0) flush(h);
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
  if (paused_ && state_ == client_state::open) return;
  read_available(h, enc, scratch);
}

void ws_client::resume_reading(ws_handler& h, core::frame_encoder& enc, std::span<std::uint8_t> scratch) {
  if (!paused_) return;
  paused_ = false;
  read_available(h, enc, scratch);
}

void ws_client::read_available(ws_handler& h, core::frame_encoder& enc, std::span<std::uint8_t> scratch) {
  while (state_ == client_state::handshaking || state_ == client_state::authenticating ||
         state_ == client_state::open) {
    const ssize_t n = read_some(scratch.data(), scratch.size());
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (state_ == client_state::handshaking) {
        read_handshake(h, enc, scratch, got);
      } else {
        decode(h, enc, scratch.first(got));
      }
      continue;
    }
    if (n == 0 && state_ == client_state::authenticating)
      return fail(h, "connection closed by server before answering the auth message", "closed during auth");
    if (n == 0) return fail(h, "connection closed by server");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return fail(h, errno == EPROTO && ssl_ ? "TLS failure (certificate or protocol)" : std::strerror(errno));
  }
  // TLS may have held a write back until it could read (the handshake, a key update).
  if (ssl_ && queued_bytes() > 0) flush(h);
}

void ws_client::read_handshake(ws_handler& h, core::frame_encoder& enc,
                               std::span<std::uint8_t> scratch, std::size_t n) {
  const std::size_t before = handshake_.size();
  handshake_.append(reinterpret_cast<const char*>(scratch.data()), n);
  const auto end = handshake_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (handshake_.size() > 16384) fail(h, "handshake response too large");
    return;
  }
  const std::string_view head(handshake_.data(), end + 2);
  if (head.substr(0, 13) != "HTTP/1.1 101 ") {
    const std::string_view status_line = head.substr(0, head.find('\r'));
    return fail(h, "upgrade refused: " + std::string(status_line), http_status_failure(status_line));
  }
  const core::accept_key expected = core::compute_accept_key(key_);
  bool accept_ok = false;
  std::vector<core::extension_offer> extensions;
  std::size_t pos = head.find("\r\n") + 2;
  while (pos < head.size()) {
    const auto eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    constexpr std::string_view name = "sec-websocket-accept:";
    constexpr std::string_view ext = "sec-websocket-extensions:";
    if (iequals_prefix(line, name)) {
      accept_ok = trim(line.substr(name.size())) ==
                  std::string_view(expected.data(), expected.size());
    } else if (iequals_prefix(line, ext) &&
               core::parse_extension_offers(trim(line.substr(ext.size())), extensions) !=
                   core::extension_error::none) {
      return fail(h, "malformed Sec-WebSocket-Extensions in the response");
    }
  }
  if (!accept_ok) return fail(h, "bad or missing Sec-WebSocket-Accept");
  // RFC 6455 §9.1: extensions we did not offer, or bad permessage-deflate parameters, fail the
  // connection. A server that declines deflate fails it too when it was asked for: a run
  // measuring compression must not silently measure something else.
  const core::deflate_response agreed =
      core::validate_deflate_response(extensions, deflate_offer());
  if (agreed.error != core::deflate_param_error::none)
    return fail(h, std::string(core::describe(agreed.error)));
  if (agreed.accepted && !target_->deflate) return fail(h, "server answered an extension we did not offer");
  if (target_->deflate && !agreed.accepted) return fail(h, "server declined permessage-deflate");
  if (agreed.accepted) {
    deflate_ = true;
    deflate_params_ = agreed.params;
    decoder_.set_rsv1_allowed(true);
  }
  // Frames that came in the same read as the head are still in `scratch`.
  const std::size_t head_end_in_scratch = end + 4 - before;
  handshake_.clear();
  handshake_.shrink_to_fit();
  if (!token_.empty() && target_->token_in == token_placement::message) {
    // Open for the scenario only once "authed" is back (connect: the auth round trip is part
    // of the handshake latency). The answer is awaited for as long as the run's warm-up lasts.
    state_ = client_state::authenticating;
    send_text(enc, auth_message(token_));
    flush(h);
  } else {
    state_ = client_state::open;
    ever_opened_ = true;
    h.on_open(*this);
  }
  if ((state_ == client_state::open || state_ == client_state::authenticating) && head_end_in_scratch < n) {
    decode(h, enc, scratch.subspan(head_end_in_scratch, n - head_end_in_scratch));
  }
}

void ws_client::decode(ws_handler& h, core::frame_encoder& enc, std::span<std::uint8_t> in) {
  while (!in.empty() && (state_ == client_state::open || state_ == client_state::authenticating)) {
    const core::decode_event ev = decoder_.next(in);
    in = in.subspan(ev.consumed);
    switch (ev.status) {
      case core::decode_status::need_more:
        return;
      case core::decode_status::data:
        if (ev.first) message_.clear();
        if (ev.compressed) {
          // No context takeover: the thread's decompressor takes whole messages.
          std::span<const std::uint8_t> compressed = ev.payload;
          if (!(ev.first && ev.last)) {
            message_.insert(message_.end(), ev.payload.begin(), ev.payload.end());
            if (!ev.last) break;
            compressed = message_;
          }
          thread_codecs& c = codecs();
          c.inflated.clear();
          core::utf8_validator text;
          const core::inflate_status st =
              c.pool.decompressor(core::client_inflater_settings(deflate_params_))
                  .feed(compressed, true, c.inflated, 64u << 20,
                        ev.op == core::opcode::text ? &text : nullptr);
          if (st != core::inflate_status::done) return fail(h, "server sent a message that does not inflate");
          deliver(h, ev.op, c.inflated);
          message_.clear();
          break;
        }
        if (ev.first && ev.last) {
          deliver(h, ev.op, ev.payload);
        } else {
          message_.insert(message_.end(), ev.payload.begin(), ev.payload.end());
          if (ev.last) {
            deliver(h, ev.op, message_);
            message_.clear();
          }
        }
        break;
      case core::decode_status::control:
        if (ev.op == core::opcode::ping) {
          const bool was_empty = queued_bytes() == 0;
          enc.append_frame(out_, core::opcode::pong, ev.payload);
          if (was_empty) flush(h);
        } else if (ev.op == core::opcode::close) {
          if (ev.payload.size() >= 2)
            close_code_ = static_cast<std::uint16_t>((ev.payload[0] << 8) | ev.payload[1]);
          if (!close_sent_) {
            enc.append_frame(out_, core::opcode::close, ev.payload);
            close_sent_ = true;
            flush(h);
          }
          if (state_ == client_state::authenticating)
            return fail(h, "server sent close (code " + std::to_string(close_code_) +
                               ") before answering the auth message", "closed during auth");
          return fail(h, "server sent close");
        }
        break;
      case core::decode_status::error:
        return fail(h, "protocol error from server");
    }
  }
}

void ws_client::deliver(ws_handler& h, core::opcode op, std::span<const std::uint8_t> payload) {
  if (state_ == client_state::authenticating) return auth_answered(h, op, payload);
  h.on_message(*this, op, payload);
}

void ws_client::auth_answered(ws_handler& h, core::opcode op, std::span<const std::uint8_t> payload) {
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  const auth_answer answer = op == core::opcode::text ? read_auth_answer(text) : auth_answer{};
  switch (answer.kind) {
    case auth_answer_kind::authed:
      state_ = client_state::open;
      ever_opened_ = true;
      h.on_open(*this);
      return;
    case auth_answer_kind::refused:
      // The server closes after the error; the connection has failed either way.
      return fail(h, "auth refused: " + std::string(excerpt(text)),
                  "auth refused: " + std::string(answer.detail.empty() ? "error" : answer.detail));
    case auth_answer_kind::unexpected:
      break;
  }
  if (op != core::opcode::text)
    return fail(h, "the server answered the auth message with a binary message", "auth: unexpected answer");
  return fail(h, "the server answered the auth message with neither authed nor error: " + std::string(excerpt(text)),
              "auth: unexpected answer");
}

bool ws_client::send(core::frame_encoder& enc, core::opcode op,
                     std::span<const std::uint8_t> payload) {
  const bool was_empty = queued_bytes() == 0;
  if (deflate_ && !core::is_control(op)) {
    thread_codecs& c = codecs();
    c.frame.resize(core::compressed_frame_capacity(payload.size()));
    const core::mask_key key = enc.next_key();
    const std::span<const std::uint8_t> chunks[] = {payload};
    const auto frame = core::encode_compressed_frame(
        c.pool.compressor(core::client_deflater_settings(deflate_params_)), op, chunks, &key, c.frame);
    if (frame) {
      out_.insert(out_.end(), frame->begin(), frame->end());
      return was_empty;
    }
  }
  enc.append_frame(out_, op, payload);
  return was_empty;
}

void ws_client::flush(ws_handler& h) {
  if (fd_ < 0 || state_ == client_state::connecting) return;
  while (out_off_ < out_.size()) {
    const ssize_t n = write_some(out_.data() + out_off_, out_.size() - out_off_);
    if (n > 0) {
      out_off_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // EPOLLOUT will come
    return fail(h, errno == EPROTO && ssl_ ? "TLS failure (certificate or protocol)" : std::strerror(errno));
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  } else if (out_off_ > (1u << 20) && out_off_ * 2 > out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_off_));
    out_off_ = 0;
  }
}

void ws_client::shutdown(core::frame_encoder& enc) {
  if (fd_ < 0) return;
  if ((state_ == client_state::open || state_ == client_state::authenticating) && !close_sent_) {
    std::vector<std::uint8_t> frame;
    enc.append_close(frame, core::close_code::normal);
    (void)write_some(frame.data(), frame.size());  // best effort: the socket is non-blocking
    close_sent_ = true;
  }
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ::close(fd_);
  fd_ = -1;
  state_ = client_state::closed;
}

void ws_client::drop() noexcept {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  state_ = client_state::closed;
}

void ws_client::fail(ws_handler& h, std::string_view why, std::string_view failure) {
  if (state_ == client_state::closed) return;
  failure_ = failure.empty() ? why : failure;
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  state_ = client_state::closed;
  out_.clear();
  out_off_ = 0;
  h.on_closed(*this, why);
}

}  // namespace shoal::loadgen
