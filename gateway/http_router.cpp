// The request router (see http_router.hpp): WebSocket endpoints by path, then the plain HTTP
// endpoints an operator and a load balancer need, then the embedded web files (web_assets.hpp).
// Every refusal says why, with its RFC clause.
#include "gateway/http_router.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>

#include "core/handshake.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/metrics_json.hpp"
#include "gateway/pubsub_protocol.hpp"
#include "gateway/web_assets.hpp"

namespace shoal::gateway {

namespace {

const core::http_header allow_get_head[] = {{"Allow", "GET, HEAD"}};

route_result plain(unsigned status, std::string_view content_type, std::string_view body,
                   const core::http_request& req, bool draining,
                   std::span<const core::http_header> headers = {}) {
  const bool close = draining || !req.keep_alive();
  core::http_response r;
  r.status = status;
  r.content_type = content_type;
  r.body = body;
  r.headers = headers;
  r.head = req.method() == "HEAD";
  r.close = close;
  route_result out;
  out.response = core::build_http_response(r);
  out.close = close;
  return out;
}

route_result refuse(std::string response, bool upgrade_attempt) {
  route_result r;
  r.response = std::move(response);
  r.close = true;
  r.refused_upgrade = upgrade_attempt;
  return r;
}

// A refusal of the request's credentials: 401 with the RFC 6750 §3 challenge (error code and
// the one-line reason), or 403 for a valid token whose claims do not cover the request.
route_result refuse_credentials(unsigned status, std::string_view error, std::string_view reason,
                                bool upgrade_attempt) {
  std::string challenge = "Bearer realm=\"shoal\"";
  if (!error.empty()) {
    challenge += ", error=\"";
    challenge += error;
    challenge += "\", error_description=\"";
    challenge += reason;  // static texts without quotes or backslashes
    challenge += '"';
  }
  const core::http_header header[] = {{"WWW-Authenticate", challenge}};
  return refuse(core::build_error_response(status, reason, header), upgrade_attempt);
}

// Verifies the request's token. Returns a refusal, or nothing with `grant` set (or left empty
// when the request has no token and may go on without one).
std::optional<route_result> authenticate(const core::http_request& req, const authenticator& auth,
                                         std::int64_t now_unix, bool upgrade_attempt,
                                         std::optional<auth_grant>& grant) {
  const request_token t = find_request_token(req);
  switch (t.state) {
    case request_token::status::none:
      if (!auth.required()) grant = auth.anonymous();
      return std::nullopt;
    case request_token::status::ambiguous:
      return refuse_credentials(400, "invalid_request",
                                "send the token once: in the Authorization header or the token "
                                "query parameter (RFC 6750 §2)",
                                upgrade_attempt);
    case request_token::status::bad_scheme:
      return refuse_credentials(401, "invalid_request",
                                "Authorization must be 'Bearer <token>' (RFC 6750 §2.1)",
                                upgrade_attempt);
    case request_token::status::found:
      break;
  }
  auth_grant g;
  const core::jwt_error err = auth.verify(t.token, now_unix, g);
  if (err != core::jwt_error::none) {
    route_result r = refuse_credentials(401, "invalid_token", core::describe(err), upgrade_attempt);
    r.auth_refused = static_cast<int>(err);
    return r;
  }
  grant = std::move(g);
  return std::nullopt;
}

// POST /publish/<topic>: checks everything that can be checked before the body is read.
route_result publish(const core::http_request& req, std::string_view topic,
                     const connection_settings& s, const authenticator* auth, std::int64_t now_unix) {
  static const core::http_header allow_post[] = {{"Allow", "POST"}};
  if (req.method() != "POST")
    return refuse(core::build_error_response(405, "publish with POST (RFC 9110 §15.5.6)", allow_post), false);
  if (!is_valid_topic(topic, s.max_topic_length))
    return refuse(core::build_error_response(400, "invalid topic name (see the README's topic rules)"), false);
  // The static publish token, or (with auth on) a JWT whose claims allow publishing here.
  const auto header = req.header("Authorization");
  // Compared in constant time: how far a guess matched must not show in the answer's timing.
  const bool static_token = !s.publish_token.empty() && header &&
                            header->size() == 7 + s.publish_token.size() &&
                            header->substr(0, 7) == "Bearer " &&
                            CRYPTO_memcmp(header->data() + 7, s.publish_token.data(), s.publish_token.size()) == 0;
  const bool jwt = auth && auth->enabled();
  if (!static_token && jwt) {
    std::optional<auth_grant> grant;
    if (auto refused = authenticate(req, *auth, now_unix, false, grant)) return *refused;
    if (!grant)
      return refuse_credentials(401, {}, "a bearer token is required to publish (RFC 6750 §3)", false);
    if (!grant->permissions->may_publish(topic))
      return refuse_credentials(403, "insufficient_scope",
                                "the token does not allow publishing on this topic", false);
  } else if (!static_token && !s.publish_token.empty()) {
    return refuse_credentials(401, {}, "a valid bearer token is required to publish (RFC 6750 §3)", false);
  }
  if (req.has_transfer_encoding())
    return refuse(core::build_error_response(411, "send the body with Content-Length; Transfer-Encoding is not supported (RFC 9112 §6.1)"), false);
  const auto length = req.content_length();
  if (!length)
    return refuse(core::build_error_response(411, "Content-Length is required (RFC 9110 §15.5.12)"), false);
  if (*length > s.max_message_size)
    return refuse(core::build_error_response(413, "body is larger than limits.max_message_size (RFC 9110 §15.5.14)"), false);
  route_result r;
  r.publish = true;
  r.publish_topic = topic;
  r.body_length = *length;
  return r;
}

// The subprotocol to answer with: the first of ours, in our order of preference, that the client
// offered; none if there is no overlap (RFC 6455 §4.2.2 item 5.4: the client then decides).
std::string_view choose_subprotocol(const std::vector<std::string_view>& offered,
                                    const std::vector<std::string>& ours) {
  for (const std::string& p : ours)
    if (std::find(offered.begin(), offered.end(), p) != offered.end()) return p;
  return {};
}

route_result websocket(const core::http_request& req, endpoint ep, const connection_settings& s,
                       const authenticator* auth, std::int64_t now_unix) {
  const core::upgrade_result u = core::validate_upgrade(req);
  if (!u.ok()) return refuse(core::build_error_response(u), u.error != core::upgrade_error::not_upgrade);
  std::optional<auth_grant> grant;
  if (auth && auth->enabled()) {
    if (auto refused = authenticate(req, *auth, now_unix, true, grant)) return *refused;
    // Without a token a /ws client may still authenticate in its first message; /echo has no
    // messages of its own to do that with.
    if (!grant && ep == endpoint::echo) {
      route_result r = refuse_credentials(401, {}, "a bearer token is required (Authorization header "
                                                   "or token query parameter, RFC 6750 §2)", true);
      r.auth_refused = 0;
      return r;
    }
  }
  if (!s.allowed_origins.empty()) {
    const bool allowed = u.upgrade.origin &&
        std::find(s.allowed_origins.begin(), s.allowed_origins.end(), *u.upgrade.origin) !=
            s.allowed_origins.end();
    if (!allowed)
      return refuse(core::build_error_response(
                        403, "Origin not allowed by this server's allow-list (RFC 6455 §4.2.2, §10.2)"),
                    true);
  }
  const std::string_view protocol = choose_subprotocol(u.upgrade.protocols, s.subprotocols);
  // permessage-deflate where this endpoint offers it: the first offer the policy can honour;
  // offers it cannot are declined by leaving them out of the answer (RFC 7692 §5). Any other
  // extension is declined the same way (RFC 6455 §9.1).
  route_result r;
  std::string_view extensions;
  core::deflate_agreement deflate;
  if (ep == endpoint::echo ? s.deflate_echo : s.deflate_pubsub) {
    deflate = core::negotiate_deflate(u.upgrade.extensions, s.deflate);
    if (deflate.accepted) {
      extensions = deflate.response;
      r.deflate = deflate.params;
    }
  }
  r.response = core::build_upgrade_response(u.upgrade.key, protocol, extensions);
  r.upgrade = ep;
  r.auth_accepted = grant && grant->expires_at != 0;
  r.grant = std::move(grant);
  return r;
}

// The operator's paths, which the admin listener serves too: health, readiness, the metrics in
// both forms and (unless server.status_page is off) the status page with its icon.
bool operator_path(std::string_view path, const connection_settings& s) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics" ||
         (s.status_page && (path == "/metrics.json" || is_status_path(path) || path == "/favicon.svg"));
}

route_result metrics_json(const core::http_request& req, const server_state& server, bool draining) {
  metrics_json_context c;
  c.now_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  c.uptime_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - server.started).count());
  c.draining = draining;
  c.cluster = server.cluster;
  c.addresses = server.addresses.get();
  static const core::http_header headers[] = {{"Cache-Control", "no-store"},
                                              {"X-Content-Type-Options", "nosniff"}};
  return plain(200, "application/json", render_metrics_json(server.shard_metrics_list, c), req, draining,
               headers);
}

}  // namespace

route_result route_request(const core::http_request& req, const server_state& server,
                           const connection_settings& settings, bool admin,
                           const authenticator* auth, std::int64_t now_unix) {
  const std::string_view path = req.path();
  const bool draining = server.draining.load(std::memory_order_relaxed);
  if (admin && !operator_path(path, settings))
    return plain(404, "text/plain",
                 "the admin listener serves /healthz, /readyz, /metrics, /metrics.json and /status only\n",
                 req, draining);
  if (path == "/echo") return websocket(req, endpoint::echo, settings, auth, now_unix);
  if (path == "/ws") return websocket(req, endpoint::pubsub, settings, auth, now_unix);
  constexpr std::string_view publish_prefix = "/publish/";
  if (path.starts_with(publish_prefix))
    return publish(req, path.substr(publish_prefix.size()), settings, auth, now_unix);

  const bool get_or_head = req.method() == "GET" || req.method() == "HEAD";
  if (path == "/healthz" || path == "/readyz" || path == "/metrics" ||
      (path == "/metrics.json" && settings.status_page)) {
    if (!get_or_head)
      return plain(405, "text/plain", "use GET or HEAD\n", req, draining, allow_get_head);
    if (path == "/healthz") return plain(200, "text/plain", "ok\n", req, draining);
    if (path == "/readyz") {
      if (draining) return plain(503, "text/plain", "draining\n", req, draining);
      if (server.cluster && !server.cluster->ready())
        return plain(503, "text/plain", "cluster link down: not connected to NATS JetStream\n", req, draining);
      return plain(200, "text/plain", "ready\n", req, draining);
    }
    if (path == "/metrics.json") return metrics_json(req, server, draining);
    std::string text = render_prometheus(server.shard_metrics_list, draining);
    if (server.cluster) server.cluster->append_metrics(text);
    if (server.addresses) append_address_metrics(text, *server.addresses);
    return plain(200, "text/plain; version=0.0.4", text, req, draining);
  }
  // The embedded web files: the client library, the demo, the status page.
  if (settings.status_page || !is_status_path(path)) {
    const bool close = draining || !req.keep_alive();
    if (auto answer = answer_web_request(req, close)) {
      route_result r;
      r.response = std::move(*answer);
      r.close = close;
      return r;
    }
  }
  return plain(404, "text/plain", "no such endpoint\n", req, draining);
}

}  // namespace shoal::gateway
