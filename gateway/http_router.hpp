// Routes a complete HTTP request to what the server answers: a WebSocket upgrade on /echo or
// /ws (with the 101 response), or a plain HTTP response (/healthz, /readyz, /metrics,
// /metrics.json, the embedded web files and the status page, 404, 405,
// 426 for a plain GET on a WebSocket path, and every handshake refusal, 401/403 for a token the
// authenticator refuses). Pure function of the request, the server state and the shard's
// authenticator; runs on the shard thread that read the request.
#pragma once

#include <optional>
#include <string>

#include "core/permessage_deflate.hpp"
#include "core/http_request.hpp"
#include "gateway/authenticator.hpp"
#include "gateway/connection.hpp"
#include "gateway/shard_context.hpp"

namespace shoal::gateway {

struct route_result {
  std::string response;              // bytes to send
  endpoint upgrade = endpoint::none;  // not none: the connection becomes a WebSocket on it
  bool close = false;                // close the connection after the response
  bool refused_upgrade = false;      // an upgrade attempt was refused (metrics)
  std::optional<core::deflate_params> deflate;  // upgrade: permessage-deflate was agreed
  // Upgrade with authentication on: what the request's token (or anonymity) grants; none on
  // /ws means the client must send {"op":"auth"} within the handshake timeout.
  std::optional<auth_grant> grant;
  // For metrics: a token was verified (accepted), or refused (the shard_metrics::auth_refused
  // slot: 0 for a missing token, else the core::jwt_error).
  bool auth_accepted = false;
  int auth_refused = -1;
  // POST /publish/<topic> accepted so far: read `body_length` bytes, then publish.
  bool publish = false;
  std::string_view publish_topic;
  std::uint64_t body_length = 0;
};

// admin: the request came through an admin listener, which serves /healthz, /readyz, /metrics,
// /metrics.json and the status page only. auth: the shard's current authenticator (null or !enabled(): no auth);
// now_unix: the wall clock, for token expiry.
route_result route_request(const core::http_request& request, const server_state& server,
                           const connection_settings& settings, bool admin = false,
                           const authenticator* auth = nullptr, std::int64_t now_unix = 0);

}  // namespace shoal::gateway
