// The HTTP session of a connection (see connection.hpp): the PROXY header a balancer sends
// first, HTTP requests with keep-alive, the endpoints (through route_request), the HTTP publish
// API's body and its answer from the topic's home shard, the per-address refusal, and the
// upgrade that hands the connection to its WebSocket session.
#include <algorithm>
#include <array>
#include <ctime>

#include "core/handshake.hpp"
#include "core/http_request.hpp"
#include "core/proxy_header.hpp"
#include "gateway/connection.hpp"
#include "gateway/http_router.hpp"
#include "gateway/pubsub_hub.hpp"

namespace shoal::gateway {

std::size_t connection::process_proxy(shard_context& ctx, std::span<std::uint8_t> bytes) {
  // The header may come split over reads: what arrived so far waits in `pending` (at most the
  // v2 bound; the parser is stateless, so it looks at the whole of it again each time).
  std::string& pending = input(ctx).pending;
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

std::size_t connection::take_proxy_header(shard_context& ctx, std::span<std::uint8_t> bytes) {
  const std::size_t used = process_proxy(ctx, bytes);
  release_input(ctx);
  return used;
}

void connection::accept_proxy_header(shard_context& ctx, const core::proxy_header& header) {
  awaiting_proxy_ = false;
  shard_metrics::add(ctx.metrics.proxy_headers);
  if (!ctx.server.addresses) return;
  // The client's address: the header's source, or the balancer's own for a LOCAL header (its
  // health check) or an unspecified family.
  if (header.local || header.family == core::proxy_family::unspecified)
    count_address(ctx, address_limits::of_peer(link_.fd));
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

std::size_t connection::process_http(shard_context& ctx, std::span<std::uint8_t> bytes) {
  core::http_request_parser& parser = in_->http;
  const core::http_parse_result r = parser.feed(bytes);
  switch (r.status) {
    case core::http_parse_status::need_more:
      return bytes.size();
    case core::http_parse_status::error:
      shard_metrics::add(ctx.metrics.handshakes_failed);
      queue_bytes(ctx, core::build_error_response(r.error));
      end_after_response(ctx);
      return bytes.size();
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
    upgrade(ctx, route);
    return r.consumed;  // frames may follow the request in the same read
  }
  if (route.refused_upgrade) shard_metrics::add(ctx.metrics.handshakes_failed);
  else shard_metrics::add(ctx.metrics.http_requests);
  // Only the publish API takes a request body, so a body elsewhere ends the connection rather
  // than be read as the next request.
  const bool has_body = req.has_transfer_encoding() || req.content_length().value_or(0) > 0;
  if (route.close || has_body || !req.keep_alive()) {
    end_after_response(ctx);
    return bytes.size();
  }
  finish_http_request(ctx, true);
  return r.consumed;
}

void connection::upgrade(shard_context& ctx, route_result& route) {
  endpoint_ = route.upgrade;
  in_->http.reset();
  if (route.deflate) {
    deflate_ = std::make_unique<conn_deflate>(*route.deflate, ctx.settings.deflate);
    in_->decoder.set_rsv1_allowed(true);  // RFC 7692 §6: RSV1 marks a compressed message
  }
  shard_metrics::add(ctx.metrics.websocket_open);
  last_rx_ = ping_sent_ = tick32(ctx.now);
  const authenticator* auth = admin_ ? nullptr : current_auth(ctx);
  if (endpoint_ == endpoint::pubsub && auth && auth->enabled()) {
    // Authentication on: the session exists from the upgrade, holding the token's grant or
    // the deadline for a first `auth` message.
    session_ = std::make_unique<pubsub_session>(*this, ctx);
    session_->start_auth(ctx, std::move(route.grant));
  }
  enter(ctx, conn_state::open);
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
  end_after_response(ctx);
}

void connection::finish_http_request(shard_context& ctx, bool keep_alive) {
  if (!keep_alive) {
    end_after_response(ctx);
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
    end_after_response(ctx);
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

}  // namespace shoal::gateway
