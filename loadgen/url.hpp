// A ws:// URL, parsed and resolved once by the main thread before the workers start; the
// resolved target is then read (never written) by every worker thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::loadgen {

struct ws_target {
  std::string host;          // the URL's authority (host[:port]), for the Host field
  std::string port;          // decimal
  std::string path;          // starts with '/', includes any query
  sockaddr_storage addr{};   // resolved address
  socklen_t addr_len = 0;
  std::string protocol;      // Sec-WebSocket-Protocol to ask for, or empty
  // Local addresses to bind (--source): connection id i of a loop uses sources[i % size];
  // empty = let the kernel choose. IPv4 targets only.
  std::vector<sockaddr_in> sources;
};

// Parses "ws://host[:port][/path]" (IPv6 hosts in brackets; port defaults to 80, path to "/")
// and resolves the host (first address getaddrinfo returns). Returns nullopt and fills `error`
// on a malformed URL or a failed lookup (wss:// is not supported yet).
std::optional<ws_target> parse_ws_url(std::string_view url, std::string& error);

}  // namespace shoal::loadgen
