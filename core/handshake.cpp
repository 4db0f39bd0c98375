// The server side of the WebSocket opening handshake: upgrade validation (RFC 6455 §4.2.1),
// Sec-WebSocket-Accept with OpenSSL, and the response builders. Every refusal carries a reason
// naming its RFC clause. Stateless; safe from any thread. An OpenSSL failure while hashing is a
// broken invariant (SHA-1 is always available) and aborts with a message.
#include "core/handshake.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace shoal::core {
namespace {

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool safe_header(const http_header& h) noexcept {
  const bool ok = is_token(h.name) && h.value.find_first_of(std::string_view("\r\n\0", 3)) ==
                                          std::string_view::npos;
  assert(ok && "response header name must be a token and its value free of CR, LF and NUL");
  return ok;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  (void)ec;  // 24 digits hold any uint64_t
  out.append(digits, end);
}

upgrade_result refuse(upgrade_error err) {
  upgrade_result r;
  r.error = err;
  r.status = http_status_for(err);
  r.reason = describe(err);
  return r;
}

}  // namespace

unsigned http_status_for(upgrade_error err) noexcept {
  switch (err) {
    case upgrade_error::none: return 101;
    case upgrade_error::not_upgrade:
    case upgrade_error::bad_version: return 426;
    case upgrade_error::method_not_get: return 405;
    default: return 400;
  }
}

std::string_view describe(upgrade_error err) noexcept {
  switch (err) {
    case upgrade_error::none: return "";
    case upgrade_error::not_upgrade:
      return "this resource needs a WebSocket upgrade (RFC 6455 §4.2.1, RFC 9110 §15.5.22)";
    case upgrade_error::method_not_get:
      return "WebSocket handshake must use method GET (RFC 6455 §4.2.1 item 1)";
    case upgrade_error::http_version_too_old:
      return "WebSocket handshake needs HTTP/1.1 or later (RFC 6455 §4.2.1 item 1)";
    case upgrade_error::missing_host:
      return "WebSocket handshake without Host (RFC 6455 §4.2.1 item 2)";
    case upgrade_error::upgrade_not_websocket:
      return "Upgrade header does not contain websocket (RFC 6455 §4.2.1 item 3)";
    case upgrade_error::connection_not_upgrade:
      return "Connection header does not contain Upgrade (RFC 6455 §4.2.1 item 4)";
    case upgrade_error::bad_version:
      return "Sec-WebSocket-Version must be 13 (RFC 6455 §4.2.1 item 6, §4.4)";
    case upgrade_error::missing_key:
      return "missing Sec-WebSocket-Key (RFC 6455 §4.2.1 item 5)";
    case upgrade_error::duplicate_key:
      return "more than one Sec-WebSocket-Key (RFC 6455 §11.3.1)";
    case upgrade_error::bad_key:
      return "Sec-WebSocket-Key is not base64 of 16 bytes (RFC 6455 §4.2.1 item 5)";
    case upgrade_error::duplicate_origin: return "more than one Origin (RFC 6454 §7.3)";
    case upgrade_error::bad_protocol:
      return "Sec-WebSocket-Protocol element is not a token (RFC 6455 §4.1 item 10)";
    case upgrade_error::duplicate_protocol:
      return "Sec-WebSocket-Protocol lists a subprotocol twice (RFC 6455 §4.1 item 10)";
    case upgrade_error::bad_extensions:
      return "malformed Sec-WebSocket-Extensions (RFC 6455 §9.1)";
  }
  return "unknown handshake error";
}

bool is_upgrade_attempt(const http_request& req) noexcept {
  return req.header_count("Upgrade") > 0;
}

bool is_valid_websocket_key(std::string_view key) noexcept {
  // 16 bytes = 21 full sextets + 2 bits, then "==": the 22nd character's low 4 bits are unused
  // and must be zero in canonical base64.
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i) {
    if (base64_value(key[i]) < 0) return false;
  }
  return (base64_value(key[21]) & 0x0f) == 0;
}

upgrade_result validate_upgrade(const http_request& req) {
  if (!is_upgrade_attempt(req)) return refuse(upgrade_error::not_upgrade);
  if (req.method() != "GET") return refuse(upgrade_error::method_not_get);
  if (req.version_major() == 1 && req.version_minor() == 0) {
    return refuse(upgrade_error::http_version_too_old);
  }
  if (req.header_count("Host") == 0 && req.form() != target_form::absolute) {
    return refuse(upgrade_error::missing_host);
  }
  bool websocket = false;
  req.for_each_value("Upgrade", [&](std::string_view v) {
    websocket = websocket || list_contains_token(v, "websocket");
  });
  if (!websocket) return refuse(upgrade_error::upgrade_not_websocket);
  bool upgrade = false;
  req.for_each_value("Connection", [&](std::string_view v) {
    upgrade = upgrade || list_contains_token(v, "Upgrade");
  });
  if (!upgrade) return refuse(upgrade_error::connection_not_upgrade);

  // Exactly one Sec-WebSocket-Version, exactly "13" (a request sends one version, §11.3.5).
  if (req.header_count("Sec-WebSocket-Version") != 1 ||
      *req.header("Sec-WebSocket-Version") != "13") {
    return refuse(upgrade_error::bad_version);
  }
  const std::size_t keys = req.header_count("Sec-WebSocket-Key");
  if (keys == 0) return refuse(upgrade_error::missing_key);
  if (keys > 1) return refuse(upgrade_error::duplicate_key);
  const std::string_view key = *req.header("Sec-WebSocket-Key");
  if (!is_valid_websocket_key(key)) return refuse(upgrade_error::bad_key);
  if (req.header_count("Origin") > 1) return refuse(upgrade_error::duplicate_origin);

  upgrade_result r;
  websocket_upgrade& u = r.upgrade;
  u.path = req.path();
  u.query = req.query();
  u.host = req.host();
  u.origin = req.header("Origin");
  u.key = key;

  // Sec-WebSocket-Protocol = 1#token, unique (§4.1 item 10); lines combine (RFC 9110 §5.3).
  upgrade_error protocol_error = upgrade_error::none;
  req.for_each_value("Sec-WebSocket-Protocol", [&](std::string_view v) {
    std::size_t elements = 0;
    for_each_list_element(v, [&](std::string_view p) {
      ++elements;
      if (!is_token(p)) {
        protocol_error = upgrade_error::bad_protocol;
      } else if (std::find(u.protocols.begin(), u.protocols.end(), p) != u.protocols.end()) {
        protocol_error = upgrade_error::duplicate_protocol;
      } else {
        u.protocols.push_back(p);
      }
      return protocol_error == upgrade_error::none;
    });
    if (elements == 0 && protocol_error == upgrade_error::none) {
      protocol_error = upgrade_error::bad_protocol;
    }
  });
  if (protocol_error != upgrade_error::none) return refuse(protocol_error);

  extension_error ext_error = extension_error::none;
  req.for_each_value("Sec-WebSocket-Extensions", [&](std::string_view v) {
    if (ext_error == extension_error::none) ext_error = parse_extension_offers(v, u.extensions);
  });
  if (ext_error != extension_error::none) {
    upgrade_result bad = refuse(upgrade_error::bad_extensions);
    bad.reason = describe(ext_error);  // more precise, and still names its clause
    return bad;
  }
  r.status = 101;
  return r;
}

accept_key compute_accept_key(std::string_view client_key) noexcept {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                     &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), client_key.data(), client_key.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), websocket_guid.data(), websocket_guid.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &digest_size) != 1 || digest_size != 20) {
    std::fputs("shoal: SHA-1 failed in OpenSSL (compute_accept_key)\n", stderr);
    std::abort();
  }
  unsigned char encoded[accept_key_size + 1];  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(encoded, digest, 20);
  assert(n == static_cast<int>(accept_key_size));
  (void)n;
  accept_key out;
  std::copy_n(encoded, accept_key_size, out.begin());
  return out;
}

std::string_view reason_phrase(unsigned status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

void append_http_response(std::string& out, const http_response& response) {
  const unsigned status = std::clamp(response.status, 100u, 999u);
  out.append("HTTP/1.1 ");
  append_number(out, status);
  out.push_back(' ');
  out.append(reason_phrase(status)).append("\r\n");
  for (const http_header& h : response.headers) {
    if (safe_header(h)) append_header(out, h.name, h.value);
  }
  if (!response.content_type.empty() && safe_header({"Content-Type", response.content_type})) {
    append_header(out, "Content-Type", response.content_type);
  }
  // No Content-Length and no body for 1xx, 204 (RFC 9110 §8.6) and 304 (RFC 9110 §15.4.5).
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (!bodiless) {
    out.append("Content-Length: ");
    append_number(out, response.body.size());
    out.append("\r\n");
  }
  if (response.close) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!bodiless && !response.head) out.append(response.body);
}

std::string build_http_response(const http_response& response) {
  std::string out;
  out.reserve(128 + response.body.size());
  append_http_response(out, response);
  return out;
}

void append_upgrade_response(std::string& out, std::string_view client_key,
                             std::string_view protocol, std::string_view extensions,
                             std::span<const http_header> extra_headers) {
  const accept_key accept = compute_accept_key(client_key);
  out.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
  append_header(out, "Sec-WebSocket-Accept", std::string_view(accept.data(), accept.size()));
  if (!protocol.empty() && safe_header({"Sec-WebSocket-Protocol", protocol})) {
    append_header(out, "Sec-WebSocket-Protocol", protocol);
  }
  if (!extensions.empty() && safe_header({"Sec-WebSocket-Extensions", extensions})) {
    append_header(out, "Sec-WebSocket-Extensions", extensions);
  }
  for (const http_header& h : extra_headers) {
    if (safe_header(h)) append_header(out, h.name, h.value);
  }
  out.append("\r\n");
}

std::string build_upgrade_response(std::string_view client_key, std::string_view protocol,
                                   std::string_view extensions,
                                   std::span<const http_header> extra_headers) {
  std::string out;
  out.reserve(160 + protocol.size() + extensions.size());
  append_upgrade_response(out, client_key, protocol, extensions, extra_headers);
  return out;
}

namespace {

// The refusal body: the reason and a newline. Reasons are ours, one line each.
std::string error_response(unsigned status, std::string_view reason,
                           std::span<const http_header> headers, bool close) {
  std::string body;
  body.reserve(reason.size() + 1);
  body.append(reason).push_back('\n');
  std::string out;
  out.reserve(160 + body.size());
  append_http_response(out, {status, "text/plain; charset=utf-8", body, headers, close, false});
  return out;
}

}  // namespace

std::string build_error_response(unsigned status, std::string_view reason,
                                 std::span<const http_header> extra_headers) {
  return error_response(status, reason, extra_headers, true);
}

std::string build_error_response(const upgrade_result& result) {
  assert(!result.ok() && "build_error_response needs a failed upgrade_result");
  if (result.status == 405) {
    const http_header allow[] = {{"Allow", "GET"}};
    return error_response(405, result.reason, allow, true);
  }
  if (result.status == 426) {
    // 426 names the protocol to upgrade to (RFC 9110 §15.5.22), and Upgrade is hop-by-hop so
    // Connection lists it (RFC 9110 §7.8); the version header is RFC 6455 §4.4's.
    const http_header required[] = {{"Upgrade", "websocket"},
                                     {"Connection", "Upgrade, close"},
                                     {"Sec-WebSocket-Version", "13"}};
    return error_response(426, result.reason, required, false);
  }
  return error_response(result.status, result.reason, {}, true);
}

std::string build_error_response(http_error err) {
  return error_response(http_status_for(err), describe(err), {}, true);
}

}  // namespace shoal::core
