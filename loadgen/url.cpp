// ws:// and wss:// URL parsing and name resolution. Main thread, before the run.
#include "loadgen/url.hpp"

#include <netdb.h>

#include <cstring>

namespace shoal::loadgen {

std::optional<ws_target> parse_ws_url(std::string_view url, std::string& error) {
  const bool tls = url.starts_with("wss://");
  if (!tls && !url.starts_with("ws://")) {
    error = "URL must start with ws:// or wss://";
    return std::nullopt;
  }
  std::string_view rest = url.substr(tls ? 6 : 5);
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  ws_target t;
  t.tls = tls;
  t.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view host = authority;
  std::string_view port = tls ? "443" : "80";
  if (!authority.empty() && authority.front() == '[') {
    const auto end = authority.find(']');
    if (end == std::string_view::npos) {
      error = "unterminated [IPv6] host";
      return std::nullopt;
    }
    host = authority.substr(1, end - 1);
    if (end + 1 < authority.size()) {
      if (authority[end + 1] != ':') {
        error = "expected :port after ]";
        return std::nullopt;
      }
      port = authority.substr(end + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) {
    error = "bad host or port in URL";
    return std::nullopt;
  }
  t.host = std::string(authority);
  t.port = std::string(port);
  std::string bare(host);
  t.server_name = bare;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(bare.c_str(), t.port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    error = std::string("cannot resolve ") + bare + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.addr_len = static_cast<socklen_t>(res->ai_addrlen);
  freeaddrinfo(res);
  return t;
}

}  // namespace shoal::loadgen
