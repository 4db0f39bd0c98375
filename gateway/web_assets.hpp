// The files of gateway/web/ (the JavaScript client, the chat demo, the status page), compiled
// into the binary by embed_web.cmake, and the HTTP answers for them: GET/HEAD with a strong
// ETag (If-None-Match -> 304), Cache-Control: no-cache (always revalidated, so a new binary's
// files are seen at once), nosniff and a Content-Security-Policy per kind of file. The table is
// constant data; the functions are pure and run on the shard thread that read the request.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/http_request.hpp"

namespace shoal::gateway {

struct web_asset {
  std::string_view path;          // URL path: "/shoal.js", "/demo/index.html"
  std::string_view content_type;  // by extension
  std::string_view etag;          // strong, quoted: "\"<128 bits of SHA-256, hex>\""
  std::string_view body;
};

// Every embedded file, sorted by path (the generated web_assets_data.cpp).
std::span<const web_asset> embedded_web_assets() noexcept;

// The file a URL path names: an embedded file's own path, a folder's index.html for "/dir/",
// and "/status" for the status page (/status.html). Null when none.
const web_asset* find_web_asset(std::string_view path) noexcept;

// The status page's paths: "/status" and the files named "/status.*". server.status_page = false
// turns them off with /metrics.json; the admin listener serves them beside /metrics.
bool is_status_path(std::string_view path) noexcept;

// The answer to a request for an embedded file or a folder without its slash ("/demo" -> 301
// "/demo/", query kept): the complete response. Nothing when the path is neither. `close` adds
// Connection: close.
std::optional<std::string> answer_web_request(const core::http_request& req, bool close);

}  // namespace shoal::gateway
