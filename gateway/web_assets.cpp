// HTTP answers for the embedded web files (see web_assets.hpp). Caching is by validation only:
// the URLs carry no version, so a cached copy must be checked each time (RFC 9111 §5.2.2.4
// no-cache), which costs one 304 of a few hundred bytes.
#include "gateway/web_assets.hpp"

#include <algorithm>

#include "core/handshake.hpp"

namespace shoal::gateway {
namespace {

// Pages load scripts and styles from this server only, connect (fetch, WebSocket: CSP Level 3
// matches ws: and wss: of the same host to 'self') to it only, run no inline code, and cannot be
// framed. Everything else is data a browser should never run or frame.
constexpr std::string_view page_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
constexpr std::string_view file_policy = "default-src 'none'; frame-ancestors 'none'; sandbox";

// If-None-Match holds "*" or a tag equal to ours by the weak comparison (RFC 9110 §13.1.2:
// W/ prefixes are ignored for this header).
bool none_match(const core::http_request& req, std::string_view etag) {
  bool matched = false;
  req.for_each_value("If-None-Match", [&](std::string_view list) {
    std::size_t i = 0;
    while (!matched && i < list.size()) {
      const char c = list[i];
      if (c == '*') {
        matched = true;
      } else if (c == '"') {
        const std::size_t end = list.find('"', i + 1);
        if (end == std::string_view::npos) return;
        matched = list.substr(i, end + 1 - i) == etag;
        i = end + 1;
        continue;
      }
      ++i;  // separators, spaces and the W/ of a weak tag
    }
  });
  return matched;
}

}  // namespace

const web_asset* find_web_asset(std::string_view path) noexcept {
  const auto assets = embedded_web_assets();
  const auto exact = [&](std::string_view p) -> const web_asset* {
    const auto it = std::lower_bound(assets.begin(), assets.end(), p,
                                     [](const web_asset& a, std::string_view v) { return a.path < v; });
    return it != assets.end() && it->path == p ? &*it : nullptr;
  };
  if (path == "/status") return exact("/status.html");
  if (path.ends_with('/')) {
    std::string index(path);
    index += "index.html";
    return exact(index);
  }
  return exact(path);
}

bool is_status_path(std::string_view path) noexcept {
  return path == "/status" || path.starts_with("/status.");
}

std::optional<std::string> answer_web_request(const core::http_request& req, bool close) {
  const std::string_view path = req.path();
  const web_asset* asset = find_web_asset(path);
  core::http_response r;
  r.close = close;
  r.head = req.method() == "HEAD";
  if (!asset) {
    // A folder named without its slash: send the browser to the folder, so the page's
    // relative links resolve inside it (as web servers do for directories).
    std::string folder(path);
    folder += '/';
    if (path.ends_with('/') || !find_web_asset(folder)) return std::nullopt;
    if (req.has_query()) folder.append("?").append(req.query());
    const core::http_header location[] = {{"Location", folder}};
    r.status = 301;
    r.headers = location;
    r.content_type = "text/plain";
    r.body = "moved to the folder's URL, with a slash\n";
    return core::build_http_response(r);
  }
  if (req.method() != "GET" && req.method() != "HEAD") {
    const core::http_header allow[] = {{"Allow", "GET, HEAD"}};
    r.status = 405;
    r.headers = allow;
    r.content_type = "text/plain";
    r.body = "use GET or HEAD (RFC 9110 §15.5.6)\n";
    return core::build_http_response(r);
  }
  const bool page = asset->content_type.starts_with("text/html");
  // The client library may be imported by apps on other origins (a module script is fetched
  // with CORS); it is public code, fetched without credentials.
  const bool library = path == "/shoal.js" || path == "/shoal.d.ts";
  const core::http_header headers[] = {
      {"ETag", asset->etag},
      {"Cache-Control", "no-cache"},
      {"X-Content-Type-Options", "nosniff"},
      {"Content-Security-Policy", page ? page_policy : file_policy},
      {"Referrer-Policy", "no-referrer"},
      {"Access-Control-Allow-Origin", "*"},
  };
  r.headers = std::span(headers, library ? 6 : 5);
  if (none_match(req, asset->etag)) {
    r.status = 304;  // no body; the validators and caching headers a 200 would carry (§15.4.5)
    return core::build_http_response(r);
  }
  r.content_type = asset->content_type;
  r.body = asset->body;
  return core::build_http_response(r);
}

}  // namespace shoal::gateway
