// Routes a complete HTTP request to what the server answers: a WebSocket upgrade on /echo or
// /ws (with the 101 response), or a plain HTTP response (/healthz, /readyz, /metrics, 404, 405,
// 426 for a plain GET on a WebSocket path, and every handshake refusal). Pure function of the
// request and the server state; runs on the shard thread that read the request.
#pragma once

#include <optional>
#include <string>

#include "core/permessage_deflate.hpp"
#include "core/http_request.hpp"
#include "gateway/connection.hpp"
#include "gateway/shard_context.hpp"

namespace shoal::gateway {

struct route_result {
  std::string response;              // bytes to send
  endpoint upgrade = endpoint::none;  // not none: the connection becomes a WebSocket on it
  bool close = false;                // close the connection after the response
  bool refused_upgrade = false;      // an upgrade attempt was refused (metrics)
  std::optional<core::deflate_params> deflate;  // upgrade: permessage-deflate was agreed
  // POST /publish/<topic> accepted so far: read `body_length` bytes, then publish.
  bool publish = false;
  std::string_view publish_topic;
  std::uint64_t body_length = 0;
};

// admin: the request came through an admin listener, which serves /healthz, /readyz and
// /metrics only.
route_result route_request(const core::http_request& request, const server_state& server,
                           const connection_settings& settings, bool admin = false);

}  // namespace shoal::gateway
