// The connection state machine (see connection.hpp). Input is read into the shard's buffer and
// decoded in place; output is queued and written once per loop pass by flush(). A connection
// is closed in one place, abort(), which the shard notices through ctx.closed.
#include "gateway/connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "core/frame_encoder.hpp"
#include "core/handshake.hpp"
#include "core/http_request.hpp"
#include "core/proxy_header.hpp"
#include "gateway/http_router.hpp"
#include "gateway/pubsub_hub.hpp"
#include "gateway/pubsub_protocol.hpp"
#include "gateway/uring_backend.hpp"

namespace shoal::gateway {

namespace {
constexpr std::size_t max_iov = 1024;  // IOV_MAX on Linux
constexpr int read_rounds = 4;         // reads per connection per pass before yielding
constexpr std::size_t keep_message_capacity = 64 * 1024;
constexpr std::size_t tls_record_max = 16384;  // plaintext of one TLS record (RFC 8446 §5.1)

core::http_limits http_limits_from(const connection_settings& s) {
  core::http_limits l;
  l.max_head_bytes = s.max_header_bytes;
  l.max_headers = s.max_headers;
  return l;
}
}  // namespace

connection::connection(int fd, std::uint64_t token, shard_context& ctx) : fd_(fd), token_(token) {
  owner_.bind();
  timer_.owner = this;
  phase_started_ = last_rx_ = ping_sent_ = tick32(ctx.now);
  reschedule(ctx);
}

connection::~connection() {
  timer_wheel::cancel(timer_);
  if (tls_) SSL_free(tls_);
  if (fd_ >= 0) ::close(fd_);
}

input_state& connection::input(shard_context& ctx) {
  if (!in_) {
    in_ = ctx.pools.inputs.take();
    if (!in_)
      in_ = std::make_unique<input_state>(
          http_limits_from(ctx.settings),
          core::decoder_options{core::role::server, ctx.settings.max_message_size, false});
    in_->decoder.set_rsv1_allowed(deflate_ != nullptr);  // pooled state may come from either kind
  }
  return *in_;
}

void connection::release_input(shard_context& ctx) {
  if (in_ && in_->reusable()) ctx.pools.inputs.give(std::move(in_));
}

void connection::take_output(shard_context& ctx) {
  out_ = ctx.pools.outputs.take();
  if (!out_) out_ = std::make_unique<output_state>();
}

void connection::release_output(shard_context& ctx) {
  // Only an empty queue whose bytes the gauge no longer counts goes back.
  if (out_ && out_->queue.empty() && out_->reported == 0) ctx.pools.outputs.give(std::move(out_));
}

void connection::on_readable(shard_context& ctx) {
  owner_.check();
  if (state_ == conn_state::closed || input_stopped()) return;
  if (in_ && !in_->pending.empty() && !(in_->publish && in_->publish->awaiting)) {
    process_pending(ctx);  // input read before a hold: decoded first, before anything new
    if (state_ == conn_state::closed || input_stopped()) return;
  }
  if (tls_) [[unlikely]] {
    on_tls_readable(ctx);
    return;
  }
  if (ctx.uring) {  // bytes arrive as completions (on_received); make sure they will
    if (!receiving_) {
      receiving_ = true;
      ctx.uring->receive(fd_, token_);
    }
    return;
  }
  const std::span<std::uint8_t> buf = ctx.read_buffer;
  for (int round = 0; round < read_rounds; ++round) {
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n > 0) {
      shard_metrics::add(ctx.metrics.bytes_in, static_cast<std::uint64_t>(n));
      if (!input_done_) process(ctx, buf.first(static_cast<std::size_t>(n)));
      if (state_ == conn_state::closed || input_stopped()) return;
      if (static_cast<std::size_t>(n) < buf.size()) return;  // the socket is drained
      continue;
    }
    if (n == 0) {
      on_eof(ctx);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR) continue;
    abort(ctx);  // ECONNRESET and friends
    return;
  }
  // Read budget used: there may be more; other connections get their turn first.
  if (!in_read_again_list) {
    in_read_again_list = true;
    ctx.read_again.push_back(this);
  }
}

void connection::on_received(shard_context& ctx, const io_event& ev) {
  owner_.check();
  if (!ev.more) receiving_ = false;
  if (state_ == conn_state::closed) return;
  if (ev.result > 0) {
    const auto n = static_cast<std::size_t>(ev.result);
    shard_metrics::add(ctx.metrics.bytes_in, n);
    // The provided buffer is ours until the shard recycles it after this call; the decoder
    // unmasks in place and copies what it keeps (a split frame, a fragmented message).
    if (!input_done_) process(ctx, {const_cast<std::uint8_t*>(ev.data), n});
  } else if (ev.result == 0) {
    on_eof(ctx);
    return;
  } else if (ev.result == -ENOBUFS) {
    shard_metrics::add(ctx.metrics.receive_buffers_dry);
  } else if (ev.result != -ECANCELED) {
    abort(ctx);  // ECONNRESET and friends
    return;
  }
  // Stopped with the connection still open: out of provided buffers (backpressure: try again
  // next pass, when buffers are back), or cancelled by a pause that has since ended.
  if (!ev.more && !receiving_ && state_ != conn_state::closed && !input_stopped() && !in_read_again_list) {
    in_read_again_list = true;
    ctx.read_again.push_back(this);
  }
}

void connection::on_writable(shard_context& ctx) {
  owner_.check();
  write_blocked_ = false;
  if (tls_read_wants_write_) {  // the TLS handshake (inside SSL_read) has more to write
    tls_read_wants_write_ = false;
    on_tls_readable(ctx);
    if (state_ == conn_state::closed) return;
  }
  if (buffered() != 0) mark_dirty(ctx);
}

void connection::on_tls_readable(shard_context& ctx) {
  // SSL_read drives the handshake, then yields plaintext one record at a time; read until it
  // wants more from the socket (or the budget is used: OpenSSL may still hold bytes, so the
  // connection is read again next pass rather than wait for an edge that will not come).
  if (input_stopped()) return;
  if (awaiting_proxy_ && !read_proxy_before_tls(ctx)) [[unlikely]] return;
  const std::span<std::uint8_t> buf = ctx.read_buffer;
  for (int round = 0; round < read_rounds * 4; ++round) {
    std::size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(tls_, buf.data(), buf.size(), &n) == 1) {
      tls_progress(ctx);
      shard_metrics::add(ctx.metrics.bytes_in, n);
      if (!input_done_) process(ctx, buf.first(n));
      if (state_ == conn_state::closed || input_stopped()) return;
      continue;
    }
    const int err = SSL_get_error(tls_, 0);
    tls_progress(ctx);  // the same call may have finished the handshake, whatever followed
    switch (err) {
      case SSL_ERROR_WANT_READ:
        return;
      case SSL_ERROR_WANT_WRITE:
        tls_read_wants_write_ = true;  // EPOLLOUT resumes the read (on_writable)
        return;
      case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify: its FIN, in TLS terms
        on_eof(ctx);
        return;
      default:  // a bad record or handshake, not TLS at all, or the socket failed
        ERR_clear_error();
        abort(ctx);
        return;
    }
  }
  if (!in_read_again_list) {
    in_read_again_list = true;
    ctx.read_again.push_back(this);
  }
}

void connection::tls_progress(shard_context& ctx) {
  if (!tls_ready_ && SSL_is_init_finished(tls_)) {
    tls_ready_ = true;
    shard_metrics::add(ctx.metrics.tls_handshakes);
  }
  if (tls_write_wants_read_) {  // a write waited for this read (TLS 1.3 key update)
    tls_write_wants_read_ = false;
    write_blocked_ = false;
    if (buffered() != 0) mark_dirty(ctx);
  }
}

void connection::on_hangup(shard_context& ctx) {
  owner_.check();
  if (input_stopped()) {
    abort(ctx);
    return;
  }
  on_readable(ctx);  // reads what is left, then sees EOF or the error
}

void connection::on_eof(shard_context& ctx) {
  // The peer's FIN. In lingering or closing this ends the close; anywhere else the peer
  // vanished without a closing handshake (1006, nothing to send).
  abort(ctx);
}

void connection::process(shard_context& ctx, std::span<std::uint8_t> bytes) {
  while (!bytes.empty() && !input_done_) {
    std::size_t used = 0;
    input_state& in = input(ctx);
    if (held_ != 0) {
      // Held (conn_hold): keep the rest of this read, undecoded, for when the hold ends. No more
      // is read meanwhile, so this is at most one read (plus receives already in flight).
      in.pending.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return;
    }
    if (in.publish && in.publish->awaiting) {
      // A pipelined request behind a publish waits for the publish's answer, bounded.
      if (in.pending.size() + bytes.size() > ctx.settings.max_header_bytes + ctx.settings.max_message_size) {
        abort(ctx);
        return;
      }
      in.pending.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return;
    }
    if (awaiting_proxy_) [[unlikely]]
      used = process_proxy(ctx, bytes);
    else if (in.publish)
      used = process_body(ctx, bytes);
    else if (state_ == conn_state::http)
      used = process_http(ctx, bytes);
    else if (state_ == conn_state::open || state_ == conn_state::closing)
      used = process_frames(ctx, bytes);
    else
      return;
    bytes = bytes.subspan(used);
  }
  release_input(ctx);  // nothing left in progress: an idle connection holds no input state
}

std::size_t connection::process_proxy(shard_context& ctx, std::span<std::uint8_t> bytes) {
  // The header may come split over reads: what arrived so far waits in `pending` (at most the
  // v2 bound; the parser is stateless, so it looks at the whole of it again each time).
  std::string& pending = in_->pending;
  const std::size_t before = pending.size();
  std::span<const std::uint8_t> view = bytes;
  if (before != 0) {
    pending.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    view = {reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()};
  }
  const core::proxy_result r = core::parse_proxy_header(view);
  if (r.status == core::proxy_status::need_more) {
    if (before == 0) pending.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return bytes.size();
  }
  if (r.status == core::proxy_status::error) {
    // Not from the balancer, or not speaking its protocol: nothing to answer in (spec 2).
    shard_metrics::add(ctx.metrics.proxy_refused);
    pending.clear();
    abort(ctx);
    return bytes.size();
  }
  const std::size_t used = r.consumed - before;  // more than `before`: that much was not enough
  pending.clear();
  accept_proxy_header(ctx, r.header);
  return used;
}

void connection::accept_proxy_header(shard_context& ctx, const core::proxy_header& header) {
  awaiting_proxy_ = false;
  shard_metrics::add(ctx.metrics.proxy_headers);
  if (!ctx.server.addresses) return;
  // The client's address: the header's source, or the balancer's own for a LOCAL header (its
  // health check) or an unspecified family.
  if (header.local || header.family == core::proxy_family::unspecified)
    count_address(ctx, address_limits::of_peer(fd_));
  else if (header.family == core::proxy_family::ipv4)
    count_address(ctx, address_limits::of_ipv4(header.source.data()));
  else
    count_address(ctx, address_limits::of_ipv6(header.source.data()));
}

void connection::count_address(shard_context& ctx, const address_limits::key& address) {
  const address_verdict v = ctx.server.addresses->admit(address, ctx.now * tick_ms);
  if (v == address_verdict::admitted) ctx.address_holds->emplace(token_, address);
  else address_refusal_ = static_cast<std::uint8_t>(v);
}

bool connection::read_proxy_before_tls(shard_context& ctx) {
  // OpenSSL reads the socket itself, so the header is taken off the socket first: looked at with
  // MSG_PEEK until complete (a header split over segments waits for the next edge), then exactly
  // its bytes are read, and the TLS handshake starts at the client's first byte.
  std::array<std::uint8_t, core::proxy_v2_fixed + core::proxy_v2_default_max> head;
  const ssize_t n = ::recv(fd_, head.data(), head.size(), MSG_PEEK);
  if (n == 0) {
    on_eof(ctx);
    return false;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) abort(ctx);
    return false;
  }
  const core::proxy_result r = core::parse_proxy_header({head.data(), static_cast<std::size_t>(n)});
  if (r.status == core::proxy_status::need_more) return false;
  if (r.status == core::proxy_status::error ||
      ::recv(fd_, head.data(), r.consumed, 0) != static_cast<ssize_t>(r.consumed)) {
    shard_metrics::add(ctx.metrics.proxy_refused);
    abort(ctx);
    return false;
  }
  accept_proxy_header(ctx, r.header);
  return true;
}

std::size_t connection::process_http(shard_context& ctx, std::span<std::uint8_t> bytes) {
  core::http_request_parser& parser = in_->http;
  const core::http_parse_result r = parser.feed(bytes);
  switch (r.status) {
    case core::http_parse_status::need_more:
      return bytes.size();
    case core::http_parse_status::error: {
      shard_metrics::add(ctx.metrics.handshakes_failed);
      queue_bytes(ctx, core::build_error_response(r.error));
      input_done_ = true;
      after_flush_ = then::linger;
      return bytes.size();
    }
    case core::http_parse_status::complete:
      break;
  }
  if (address_refusal_ != 0) [[unlikely]] {
    refuse_for_address(ctx);
    return bytes.size();
  }
  const core::http_request& req = parser.request();
  const authenticator* auth = admin_ ? nullptr : current_auth(ctx);
  route_result route = route_request(req, ctx.server, ctx.settings, admin_, auth,
                                     auth && auth->enabled() ? std::time(nullptr) : 0);
  queue_bytes(ctx, route.response);
  if (route.auth_accepted) shard_metrics::add(ctx.metrics.auth_accepted);
  if (route.auth_refused >= 0) shard_metrics::add(ctx.metrics.auth_refused[route.auth_refused]);
  if (route.publish) {
    auto p = std::make_unique<http_publish>(*this);
    p->topic = std::string(route.publish_topic);
    p->content_type = std::string(req.header("Content-Type").value_or(""));
    p->remaining = route.body_length;
    p->keep_alive = req.keep_alive();
    p->body.reserve(route.body_length);
    in_->publish = std::move(p);
    if (route.body_length == 0) process_body(ctx, {});
    return r.consumed;
  }
  if (route.upgrade != endpoint::none) {
    endpoint_ = route.upgrade;
    parser.reset();
    if (route.deflate) {
      deflate_ = std::make_unique<conn_deflate>(*route.deflate, ctx.settings.deflate);
      in_->decoder.set_rsv1_allowed(true);  // RFC 7692 §6: RSV1 marks a compressed message
    }
    shard_metrics::add(ctx.metrics.websocket_open);
    last_rx_ = ping_sent_ = ctx.now;
    if (endpoint_ == endpoint::pubsub && auth && auth->enabled()) {
      // Authentication on: the session exists from the upgrade, holding the token's grant or
      // the deadline for a first `auth` message.
      session_ = std::make_unique<pubsub_session>(*this, ctx);
      session_->start_auth(ctx, std::move(route.grant));
    }
    enter(ctx, conn_state::open);
    return r.consumed;  // frames may follow the request in the same read
  }
  if (route.refused_upgrade) shard_metrics::add(ctx.metrics.handshakes_failed);
  else shard_metrics::add(ctx.metrics.http_requests);
  // Only the publish API takes a request body, so a body elsewhere ends the connection rather
  // than be read as the next request.
  const bool has_body = req.has_transfer_encoding() || req.content_length().value_or(0) > 0;
  if (route.close || has_body || !req.keep_alive()) {
    input_done_ = true;
    after_flush_ = then::linger;
    return bytes.size();
  }
  finish_http_request(ctx, true);
  return r.consumed;
}

void connection::refuse_for_address(shard_context& ctx) {
  // RFC 6585 §4: 429 with Retry-After; the client may come back after a second.
  static const core::http_header retry[] = {{"Retry-After", "1"}};
  const auto why = static_cast<address_verdict>(address_refusal_);
  const char* reason =
      why == address_verdict::too_many_connections
          ? "too many connections from your address (limits.max_connections_per_address; RFC 6585 §4)"
      : why == address_verdict::too_many_handshakes
          ? "too many new connections from your address (limits.connects_per_address_per_second; RFC 6585 §4)"
          : "too many client addresses are being tracked; try again later (RFC 6585 §4)";
  shard_metrics::add(ctx.metrics.handshakes_failed);
  queue_bytes(ctx, core::build_error_response(429, reason, retry));
  input_done_ = true;
  after_flush_ = then::linger;
}

void connection::finish_http_request(shard_context& ctx, bool keep_alive) {
  if (!keep_alive) {
    input_done_ = true;
    after_flush_ = then::linger;
    mark_dirty(ctx);
    return;
  }
  in_->http.reset();
  enter(ctx, conn_state::http);  // a new request: a new handshake deadline
}

std::size_t connection::process_body(shard_context& ctx, std::span<std::uint8_t> bytes) {
  http_publish& p = *in_->publish;
  const std::size_t take = std::min<std::size_t>(p.remaining, bytes.size());
  p.body.append(reinterpret_cast<const char*>(bytes.data()), take);
  p.remaining -= take;
  if (p.remaining > 0) return take;
  const http_body_outcome data = ctx.hub->parser().parse_http_body(p.body, p.content_type);
  if (!data.ok) {
    queue_bytes(ctx, core::build_error_response(400, data.message));
    shard_metrics::add(ctx.metrics.http_requests);
    in_->publish.reset();
    input_done_ = true;
    after_flush_ = then::linger;
    return bytes.size();
  }
  p.awaiting = true;  // first: the answer may come at once (topic homed here)
  shard_metrics::add(ctx.metrics.messages_in);
  const admission a = ctx.hub->publish(ctx, publish_args{token_, 0, p.topic, data.data, {}, true}, true);
  if (a == admission::full) {
    shard_metrics::add(ctx.metrics.publishes_refused);
    answer_http_publish(ctx, p.topic, 0,
                        "the server's queues toward the topic's shard are full; retry later", true);
  }
  return take;
}

void http_publish::published(shard_context& ctx, std::unique_ptr<publish_job> job) {
  // The answer ends the publish: this object is gone when the call returns (nothing follows).
  // A message JetStream cannot hold is the client's to fix (413); the rest are the server's
  // (503), and `unavailable` (cluster) passes with a retry.
  const bool too_big = job->refused && job->refused_code == protocol_error_code::message_too_big;
  conn.answer_http_publish(ctx, job->topic, job->seq, job->refused,
                           job->refused && job->refused_code == protocol_error_code::unavailable,
                           too_big ? 413 : 503);
}

void connection::hold_input(shard_context& ctx, conn_hold why) {
  if (held_ == 0 && !read_paused_ && ctx.uring && receiving_) ctx.uring->stop_receiving(token_);
  if (held_ == 0) shard_metrics::add(ctx.metrics.inputs_held);
  held_ |= static_cast<std::uint8_t>(why);
}

void connection::release_hold(shard_context& ctx, conn_hold why) {
  const auto bit = static_cast<std::uint8_t>(why);
  if ((held_ & bit) == 0) return;
  held_ &= ~bit;
  if (held_ != 0 || state_ == conn_state::closed) return;
  shard_metrics::sub(ctx.metrics.inputs_held);
  // Read again next pass, the input kept at the hold first (on_readable); not from here, which
  // may be inside this connection's own input processing.
  if (!read_paused_ && !in_read_again_list) {
    in_read_again_list = true;
    ctx.read_again.push_back(this);
  }
}

void connection::answer_http_publish(shard_context& ctx, std::string_view topic, std::uint64_t seq,
                                     const char* refused, bool retry_later, std::uint16_t status) {
  owner_.check();
  if (!in_ || !in_->publish || !in_->publish->awaiting) return;
  const bool keep_alive = in_->publish->keep_alive;
  in_->publish.reset();
  std::string body;
  core::http_response r;
  static constexpr core::http_header retry_after[] = {{"Retry-After", "1"}};
  if (refused) {
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    if (retry_later) r.headers = retry_after;
    body = refused;
    body += '\n';
  } else {
    body = R"({"topic":")";
    body += topic;
    body += R"(","seq":)";
    body += std::to_string(seq);
    body += "}\n";
    r.status = 200;
    r.content_type = "application/json";
  }
  r.body = body;
  r.close = !keep_alive || ctx.server.draining.load(std::memory_order_relaxed);
  queue_bytes(ctx, core::build_http_response(r));
  shard_metrics::add(ctx.metrics.http_requests);
  finish_http_request(ctx, !r.close);
  if (!in_->pending.empty() && !input_done_) process_pending(ctx);
  release_input(ctx);
}

void connection::process_pending(shard_context& ctx) {
  // Moved out first: processing may keep bytes in `pending` again (another hold, another
  // publish to wait for).
  std::string pending;
  pending.swap(in_->pending);
  process(ctx, {reinterpret_cast<std::uint8_t*>(pending.data()), pending.size()});
}

std::size_t connection::process_frames(shard_context& ctx, std::span<std::uint8_t> bytes) {
  std::size_t used = 0;
  while (used < bytes.size() && !input_done_ && held_ == 0) {
    const core::decode_event ev = in_->decoder.next(bytes.subspan(used));
    used += ev.consumed;
    switch (ev.status) {
      case core::decode_status::need_more:
        return bytes.size();
      case core::decode_status::data:
        last_rx_ = tick32(ctx.now);
        if (state_ == conn_state::open) on_message_chunk(ctx, ev);
        break;  // after our Close, data is discarded (§5.5.1)
      case core::decode_status::control:
        last_rx_ = tick32(ctx.now);
        on_control(ctx, ev);
        break;
      case core::decode_status::error:
        fail(ctx, ev.error);
        return bytes.size();
    }
  }
  return input_done_ ? bytes.size() : used;
}

void connection::on_message_chunk(shard_context& ctx, const core::decode_event& ev) {
  if (ev.compressed) [[unlikely]] {  // only once permessage-deflate is agreed (RSV1 allowed)
    on_compressed_chunk(ctx, ev);
    return;
  }
  if (ev.first && ev.last) {  // a whole message in one read: use it straight from the buffer
    on_message(ctx, ev.op, ev.payload);
    return;
  }
  std::vector<std::uint8_t>& message = in_->message;
  if (ev.first) {
    in_->message_op = ev.op;
    message.clear();
  }
  // The decoder has checked the message against max_message_size before this chunk arrived.
  message.insert(message.end(), ev.payload.begin(), ev.payload.end());
  if (!ev.last) return;
  // on_message may send, never release in_, so `message` stays valid through the call.
  on_message(ctx, in_->message_op, message);
  message.clear();
  if (message.capacity() > keep_message_capacity) std::vector<std::uint8_t>().swap(message);
}

void connection::on_compressed_chunk(shard_context& ctx, const core::decode_event& ev) {
  input_state& in = *in_;
  if (ev.first) {
    in.message_op = ev.op;
    in.message.clear();
    in.inflated_text.reset();
  }
  core::utf8_validator* text = ev.op == core::opcode::text ? &in.inflated_text : nullptr;
  // A connection with its own decompressor inflates chunk by chunk into `message` (UTF-8 checked
  // as it comes); the shard's shared one takes whole messages, so fragments are gathered first
  // (the decoder has bounded their compressed size by max_message_size).
  std::span<const std::uint8_t> input = ev.payload;
  std::vector<std::uint8_t>* out = &in.message;
  if (deflate_->inflates_whole()) {
    if (!(ev.first && ev.last)) {
      in.message.insert(in.message.end(), ev.payload.begin(), ev.payload.end());
      if (!ev.last) return;
      input = in.message;
    }
    out = &ctx.inflated;
    out->clear();
  }
  const core::inflate_status status =
      deflate_->inflate(*ctx.deflate, input, ev.last, *out, ctx.settings.max_message_size, text);
  if (status == core::inflate_status::more) return;
  if (status != core::inflate_status::done) {
    fail(ctx, core::error_for(status));  // 1009 past the size limit, 1007 for bad data or UTF-8
    return;
  }
  shard_metrics::add(ctx.metrics.deflate_inflated);
  on_message(ctx, in.message_op, *out);
  out->clear();
  if (out->capacity() > keep_message_capacity) std::vector<std::uint8_t>().swap(*out);
  in.message.clear();  // on_message never releases in_ (see on_message_chunk)
  if (in.message.capacity() > keep_message_capacity) std::vector<std::uint8_t>().swap(in.message);
}

void connection::on_message(shard_context& ctx, core::opcode op,
                            std::span<const std::uint8_t> payload) {
  shard_metrics::add(ctx.metrics.messages_in);
  if (endpoint_ == endpoint::echo) {
    queue_frame(ctx, op, payload);
    return;
  }
  if (op != core::opcode::text) {
    std::string error;
    encode_error(error, protocol_error_code::bad_message, "shoal.v1 messages are JSON in text frames", {}, {});
    queue_text(ctx, error);
    return;
  }
  if (!session_) session_ = std::make_unique<pubsub_session>(*this, ctx);  // from the first message
  session_->on_text(ctx, {reinterpret_cast<const char*>(payload.data()), payload.size()});
}

void connection::on_control(shard_context& ctx, const core::decode_event& ev) {
  switch (ev.op) {
    case core::opcode::ping:
      if (state_ == conn_state::open) queue_frame(ctx, core::opcode::pong, ev.payload);
      return;
    case core::opcode::pong:
      // Unsolicited pongs are allowed and ignored (§5.5.3). An answer moves the timer from
      // the pong deadline back to the next ping.
      if (ping_outstanding_) {
        ping_outstanding_ = false;
        reschedule(ctx);
      }
      return;
    case core::opcode::close: {
      // The peer's Close: answer with the same code if we have not sent ours (§5.5.1), then the
      // server closes the TCP connection first (§7.1.1) once the answer is written.
      if (!close_sent_) {
        const core::close_body body = core::parse_close_body(ev.payload);
        std::uint8_t reply[core::max_control_payload];
        std::size_t len = 0;
        if (body.code != static_cast<std::uint16_t>(core::close_code::no_status))
          len = core::encode_close_body(reply, static_cast<core::close_code>(body.code), {});
        queue_frame(ctx, core::opcode::close, {reply, len});
        close_sent_ = true;
        ctx.metrics.count_close(body.code);
      }
      input_done_ = true;
      after_flush_ = then::close;
      enter(ctx, conn_state::closing);
      mark_dirty(ctx);
      return;
    }
    default:
      return;
  }
}

void connection::fail(shard_context& ctx, core::protocol_error err) {
  // Fail the WebSocket connection (§7.1.7): send a Close with the code for the error, then
  // half-close and wait briefly for the peer's FIN so it can read our Close.
  if (!close_sent_) {
    const core::close_code code = core::close_code_for(err);
    std::uint8_t body[core::max_control_payload];
    const std::size_t len = core::encode_close_body(body, code, core::describe(err));
    queue_frame(ctx, core::opcode::close, {body, len});
    close_sent_ = true;
    ctx.metrics.count_close(static_cast<std::uint16_t>(code));
  }
  input_done_ = true;
  after_flush_ = then::linger;
  enter(ctx, conn_state::closing);
  mark_dirty(ctx);
}

void connection::start_close(shard_context& ctx, std::uint16_t code, std::string_view reason) {
  owner_.check();
  if (state_ == conn_state::http) {
    abort(ctx);  // no WebSocket yet: nothing to say
    return;
  }
  if (state_ != conn_state::open || close_sent_) return;
  std::uint8_t body[core::max_control_payload];
  const std::size_t len = core::encode_close_body(body, static_cast<core::close_code>(code), reason);
  queue_frame(ctx, core::opcode::close, {body, len});
  close_sent_ = true;
  ctx.metrics.count_close(code);
  enter(ctx, conn_state::closing);  // keep reading for the peer's Close, until the close timeout
}

void connection::on_timer(shard_context& ctx) {
  owner_.check();
  const connection_settings& s = ctx.settings;
  switch (state_) {
    case conn_state::http:
      if (since(ctx, phase_started_) >= s.handshake_ticks) {
        abort(ctx);  // handshake timeout: a slow or silent client
        return;
      }
      break;
    case conn_state::open:
      if (session_ && session_->deadline() != 0 && ctx.now >= session_->deadline()) {
        session_->on_deadline(ctx);  // closes: no token in time, or the token expired
        break;
      }
      if (held_ != 0) {
        // Shoal holds this peer's input back (its queues are full), so a pong or any frame it
        // sent waits unread: not the peer's silence. The clocks restart when reading resumes.
        last_rx_ = tick32(ctx.now);
        if (ping_outstanding_) ping_sent_ = tick32(ctx.now);
        break;
      }
      if (ping_outstanding_ && since(ctx, ping_sent_) >= s.pong_timeout_ticks) {
        shard_metrics::add(ctx.metrics.heartbeat_timeouts);
        abort(ctx);  // the peer stopped answering: vanished, or stopped reading
        return;
      }
      if (s.idle_ticks && since(ctx, last_rx_) >= s.idle_ticks) {
        start_close(ctx, static_cast<std::uint16_t>(core::close_code::going_away), "idle timeout");
        break;
      }
      if (s.ping_interval_ticks && !ping_outstanding_ && since(ctx, ping_sent_) >= s.ping_interval_ticks) {
        queue_frame(ctx, core::opcode::ping, {});
        ping_outstanding_ = true;
        ping_sent_ = tick32(ctx.now);
        shard_metrics::add(ctx.metrics.pings_sent);
      }
      break;
    case conn_state::closing:
    case conn_state::lingering:
      if (since(ctx, phase_started_) >= s.close_ticks) {
        abort(ctx);  // close timeout: the peer did not finish the closing handshake
        return;
      }
      break;
    case conn_state::closed:
      return;
  }
  reschedule(ctx);
}

void connection::reschedule(shard_context& ctx) {
  const connection_settings& s = ctx.settings;
  // The tick at which `ticks` will have passed since `start`.
  const auto after = [&ctx](std::uint32_t start, std::uint64_t ticks) {
    const std::uint64_t elapsed = since(ctx, start);
    return ctx.now + (ticks > elapsed ? ticks - elapsed : 0);
  };
  std::uint64_t due = 0;
  switch (state_) {
    case conn_state::http:
      due = after(phase_started_, s.handshake_ticks);
      break;
    case conn_state::open: {
      std::uint64_t next = ~std::uint64_t{0};
      if (ping_outstanding_) next = after(ping_sent_, s.pong_timeout_ticks);
      else if (s.ping_interval_ticks) next = after(ping_sent_, s.ping_interval_ticks);
      if (s.idle_ticks) next = std::min(next, after(last_rx_, s.idle_ticks));
      if (session_ && session_->deadline() != 0) next = std::min(next, session_->deadline());
      if (next == ~std::uint64_t{0}) {
        timer_wheel::cancel(timer_);
        return;
      }
      due = next;
      break;
    }
    case conn_state::closing:
    case conn_state::lingering:
      due = after(phase_started_, s.close_ticks);
      break;
    case conn_state::closed:
      timer_wheel::cancel(timer_);
      return;
  }
  ctx.timers.schedule(timer_, due);
}

void connection::enter(shard_context& ctx, conn_state next) {
  state_ = next;
  phase_started_ = tick32(ctx.now);
  reschedule(ctx);
}

void connection::queue_frame(shard_context& ctx, core::opcode op,
                             std::span<const std::uint8_t> payload) {
  if (close_sent_) return;  // the Close is the last frame we send (§5.5.1)
  // Control frames are never compressed (RFC 7692 §6.1); small messages are not worth it.
  if (deflate_ && !core::is_control(op) && payload.size() >= ctx.settings.deflate_min_size &&
      queue_compressed(ctx, op, payload))
    return;
  const std::size_t header = core::frame_header_size(payload.size(), false);
  std::uint8_t* p = output(ctx).append_local(header + payload.size());
  core::encode_frame_header(p, op, payload.size(), true, false, nullptr);
  if (!payload.empty()) std::memcpy(p + header, payload.data(), payload.size());
  if (!core::is_control(op)) shard_metrics::add(ctx.metrics.messages_out);
  mark_dirty(ctx);
}

void connection::queue_text(shard_context& ctx, std::string_view json) {
  queue_frame(ctx, core::opcode::text, {reinterpret_cast<const std::uint8_t*>(json.data()), json.size()});
}

bool connection::queue_compressed(shard_context& ctx, core::opcode op,
                                  std::span<const std::uint8_t> payload) {
  const auto frame = deflate_->compress_frame(*ctx.deflate, op, payload, ctx.deflate_out);
  shard_metrics::add(ctx.metrics.deflate_compressed);
  if (!frame) return false;
  std::memcpy(output(ctx).append_local(frame->size()), frame->data(), frame->size());
  if (ctx.deflate_out.size() > keep_message_capacity) std::vector<std::uint8_t>().swap(ctx.deflate_out);
  shard_metrics::add(ctx.metrics.messages_out);
  mark_dirty(ctx);
  return true;
}

void connection::queue_broadcast_deflate(shard_context& ctx, local_frame* frame) {
  // The frame's shared compressed variant if this connection's settings allow it (compressed
  // once for every such subscriber); else compressed for this connection alone (context
  // takeover, or another window), or plain if small.
  const shared_frame& f = *frame->frame;
  if (f.compressed_size() != 0 && deflate_->takes_broadcast_variant()) {
    out_queue& q = output(ctx);
    q.append_shared(frame, f.size(), f.compressed_size());
    shard_metrics::add(ctx.metrics.messages_out);
    shard_metrics::add(ctx.metrics.deflate_shared_sends);
    mark_dirty(ctx, q.buffered());
    return;
  }
  const std::span<const std::uint8_t> payload = f.payload();
  if (payload.size() >= ctx.settings.deflate_min_size && queue_compressed(ctx, core::opcode::text, payload))
    return;
  out_queue& q = output(ctx);
  q.append_shared(frame);
  shard_metrics::add(ctx.metrics.messages_out);
  mark_dirty(ctx, q.buffered());
}

void connection::queue_bytes(shard_context& ctx, std::string_view bytes) {
  if (bytes.empty()) return;
  std::memcpy(output(ctx).append_local(bytes.size()), bytes.data(), bytes.size());
  mark_dirty(ctx);
}

void connection::enqueue_dirty(shard_context& ctx) {
  in_dirty_list = true;
  ctx.dirty.push_back(this);
}

void connection::pause_reading(shard_context& ctx) {
  read_paused_ = true;
  if (ctx.uring && receiving_) ctx.uring->stop_receiving(token_);  // resumed through read_again
  shard_metrics::add(ctx.metrics.paused_reads);
}

void connection::sync_buffered(shard_context& ctx) {
  if (!out_) return;
  const std::size_t now = out_->queue.buffered();
  std::size_t& reported = out_->reported;
  if (now > reported) shard_metrics::add(ctx.metrics.buffered_bytes, now - reported);
  else shard_metrics::sub(ctx.metrics.buffered_bytes, reported - now);
  reported = now;
}

void connection::flush(shard_context& ctx) {
  owner_.check();
  in_dirty_list = false;
  if (state_ == conn_state::closed || write_blocked_ || send_in_flight_) return;
  if (ctx.uring && !tls_ && out_ && !out_->queue.empty()) {
    send_uring(ctx);  // on_sent() goes on from here once the send completed, this same pass
    return;
  }
  if (out_ && !write_out(ctx)) return;
  after_write(ctx);
}

void connection::send_uring(shard_context& ctx) {
  iovec iov[max_iov];
  const std::size_t count = out_->queue.gather(iov);
  std::size_t want = 0;
  for (std::size_t i = 0; i < count; ++i) want += iov[i].iov_len;
  write_len_ = static_cast<std::uint32_t>(std::min<std::size_t>(want, UINT32_MAX));
  ctx.uring->send(fd_, token_, {iov, count});
  send_in_flight_ = true;
}

void connection::on_sent(shard_context& ctx, int result) {
  owner_.check();
  send_in_flight_ = false;
  if (state_ == conn_state::closed) {  // aborted while the send was in flight: free now
    if (out_) {
      out_->queue.clear();
      sync_buffered(ctx);
      out_.reset();
    }
    return;
  }
  if (result < 0) {
    if (result != -EAGAIN && result != -EINTR) {
      abort(ctx);
      return;
    }
    write_blocked_ = true;
    ctx.uring->wait_writable(fd_, token_);
    return;
  }
  shard_metrics::add(ctx.metrics.writes);
  shard_metrics::add(ctx.metrics.bytes_out, static_cast<std::uint64_t>(result));
  out_queue& out = out_->queue;
  out.consume(static_cast<std::size_t>(result));
  if (static_cast<std::size_t>(result) < write_len_) {  // the socket buffer is full
    write_blocked_ = true;
    ctx.uring->wait_writable(fd_, token_);
  } else if (!out.empty()) {
    mark_dirty(ctx);  // more than one send takes: the next pass writes the rest
  }
  sync_buffered(ctx);
  after_write(ctx);
}

void connection::after_write(shard_context& ctx) {
  if (read_paused_ && buffered() <= ctx.settings.low_watermark) {
    read_paused_ = false;
    shard_metrics::sub(ctx.metrics.paused_reads);
    if (!in_read_again_list) {
      in_read_again_list = true;
      ctx.read_again.push_back(this);
    }
  }
  // Below the slow-consumer limit again: release the gap notices and conflated messages held
  // back for this subscriber (written on the next pass).
  if (session_ && session_->has_held_back() && buffered() < ctx.settings.slow_consumer_limit &&
      state_ == conn_state::open)
    session_->on_drained(ctx);  // may queue more (written on the next pass)
  if (buffered() == 0) {
    release_output(ctx);  // an idle connection holds no output state
    after_flush(ctx);
  }
}

bool connection::write_out(shard_context& ctx) {
  if (tls_) [[unlikely]] return write_tls(ctx);
  out_queue& out = out_->queue;
  iovec iov[max_iov];
  while (!out.empty()) {
    const std::size_t count = out.gather(iov);
    std::size_t want = 0;
    for (std::size_t i = 0; i < count; ++i) want += iov[i].iov_len;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        write_blocked_ = true;  // EPOLLOUT (edge-triggered, registered once) resumes us
        break;
      }
      abort(ctx);
      return false;
    }
    shard_metrics::add(ctx.metrics.writes);
    shard_metrics::add(ctx.metrics.bytes_out, static_cast<std::uint64_t>(n));
    out.consume(static_cast<std::size_t>(n));
    if (static_cast<std::size_t>(n) < want) {
      write_blocked_ = true;  // the socket buffer is full
      break;
    }
  }
  sync_buffered(ctx);
  return true;
}

bool connection::write_tls(shard_context& ctx) {
  // One SSL_write per TLS record: the queue's next 16 KiB, taken in place when one frame holds
  // them, else small frames gathered into the shard's record buffer, so a burst of deliveries
  // is a few records and a few write calls, not one per frame. A write that would block is
  // retried with the same bytes (still queued, so front() gives them again) and length.
  out_queue& out = out_->queue;
  while (!out.empty()) {
    const std::size_t want = write_len_ != 0 ? write_len_ : std::min(out.buffered(), tls_record_max);
    const std::span<const std::uint8_t> record = out.front(want, ctx.tls_record);
    std::size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(tls_, record.data(), record.size(), &written) == 1) {
      write_len_ = 0;
      shard_metrics::add(ctx.metrics.writes);
      shard_metrics::add(ctx.metrics.bytes_out, written);
      out.consume(written);
      continue;
    }
    const int err = SSL_get_error(tls_, 0);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
      write_len_ = static_cast<std::uint32_t>(want);
      write_blocked_ = true;
      if (err == SSL_ERROR_WANT_READ) tls_write_wants_read_ = true;
      break;
    }
    ERR_clear_error();
    abort(ctx);
    return false;
  }
  if (ctx.tls_record.capacity() > 2 * tls_record_max) std::vector<std::uint8_t>().swap(ctx.tls_record);
  sync_buffered(ctx);
  return true;
}

void connection::after_flush(shard_context& ctx) {
  switch (after_flush_) {
    case then::keep_open:
      return;
    case then::close:
      abort(ctx);
      return;
    case then::linger:
      after_flush_ = then::keep_open;
      if (tls_) {
        ERR_clear_error();
        SSL_shutdown(tls_);  // our close_notify; the peer's is not awaited (RFC 8446 §6.1)
        ERR_clear_error();
      }
      ::shutdown(fd_, SHUT_WR);
      input_done_ = true;
      enter(ctx, conn_state::lingering);
      return;
  }
}

void connection::abort(shard_context& ctx) {
  if (state_ == conn_state::closed) return;
  if (session_) session_->leave_all(ctx);
  if (endpoint_ != endpoint::none) shard_metrics::sub(ctx.metrics.websocket_open);
  if (read_paused_) shard_metrics::sub(ctx.metrics.paused_reads);
  read_paused_ = false;
  if (held_ != 0) shard_metrics::sub(ctx.metrics.inputs_held);
  held_ = 0;
  if (out_ && !send_in_flight_) {  // else the kernel may still read it: on_sent() frees it
    out_->queue.clear();
    sync_buffered(ctx);
    out_.reset();
  }
  timer_wheel::cancel(timer_);
  if (tls_) {
    if (!tls_ready_) shard_metrics::add(ctx.metrics.tls_handshakes_failed);
    SSL_free(tls_);
    tls_ = nullptr;
  }
  if (ctx.uring) ctx.uring->close_connection(fd_, token_, receiving_, write_blocked_);
  else ::close(fd_);
  fd_ = -1;
  state_ = conn_state::closed;
  shard_metrics::sub(ctx.metrics.connections_open);
  if (!admin_) ctx.server.connections.fetch_sub(1, std::memory_order_relaxed);
  ctx.closed.push_back(this);
}

}  // namespace shoal::gateway
