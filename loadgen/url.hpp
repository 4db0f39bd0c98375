// A ws:// URL, parsed and resolved once by the main thread before the workers start; the
// resolved target is then read (never written) by every worker thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/token_plan.hpp"

using SSL_CTX = struct ssl_ctx_st;

namespace shoal::loadgen {

struct ws_target {
  std::string host;          // the URL's authority (host[:port]), for the Host field
  std::string port;          // decimal
  std::string path;          // starts with '/', includes any query
  sockaddr_storage addr{};   // resolved address
  socklen_t addr_len = 0;
  std::string protocol;      // Sec-WebSocket-Protocol to ask for, or empty
  bool deflate = false;      // offer permessage-deflate (no context takeover either way)
  // Where a connection's token goes (--token-in); the token itself is the connection's own.
  token_placement token_in = token_placement::header;
  bool tls = false;          // wss://
  std::string server_name;   // the host without port or brackets: SNI and certificate check
  SSL_CTX* tls_ctx = nullptr;  // wss://: the client context every thread's connections share
  // Local addresses to bind (--source): connection id i of a loop uses sources[i % size];
  // empty = let the kernel choose. IPv4 targets only.
  std::vector<sockaddr_in> sources;
};

// Parses "ws://host[:port][/path]" or "wss://..." (IPv6 hosts in brackets; port defaults to 80
// or 443, path to "/") and resolves the host (first address getaddrinfo returns). Returns
// nullopt and fills `error` on a malformed URL or a failed lookup.
std::optional<ws_target> parse_ws_url(std::string_view url, std::string& error);

}  // namespace shoal::loadgen
