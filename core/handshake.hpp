// The WebSocket opening handshake, server side (RFC 6455 §4.2): validating a parsed request as an
// upgrade, computing Sec-WebSocket-Accept, and building the 101 response, the refusals (one line
// of body naming the RFC clause, Connection: close) and plain HTTP responses for the gateway.
// Plain functions and values; safe from any thread on distinct data; never throws. Views in an
// upgrade_result point into the http_request's storage (see http_request) and live as long.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/extension_offer.hpp"
#include "core/http_request.hpp"

namespace shoal::core {

enum class upgrade_error : std::uint8_t {
  none = 0,
  not_upgrade,             // no Upgrade field: plain HTTP, not an upgrade attempt (426 if answered)
  method_not_get,          // 405 with Allow: GET (RFC 6455 §4.2.1 item 1)
  http_version_too_old,    // HTTP/1.0 (RFC 6455 §4.2.1 item 1)
  missing_host,            // (RFC 6455 §4.2.1 item 2)
  upgrade_not_websocket,   // Upgrade lacks the token "websocket" (RFC 6455 §4.2.1 item 3)
  connection_not_upgrade,  // Connection lacks the token "Upgrade" (RFC 6455 §4.2.1 item 4)
  bad_version,             // Sec-WebSocket-Version missing or not 13: 426 (RFC 6455 §4.2.1 item 6)
  missing_key,             // (RFC 6455 §4.2.1 item 5)
  duplicate_key,           // (RFC 6455 §11.3.1)
  bad_key,                 // not canonical base64 of 16 bytes (RFC 6455 §4.2.1 item 5)
  duplicate_origin,        // more than one Origin (RFC 6454 §7.3)
  bad_protocol,            // Sec-WebSocket-Protocol element not a token (RFC 6455 §4.1 item 10)
  duplicate_protocol,      // the same subprotocol twice (RFC 6455 §4.1 item 10)
  bad_extensions,          // malformed Sec-WebSocket-Extensions (RFC 6455 §9.1)
};

// 400, except not_upgrade and bad_version (426) and method_not_get (405).
unsigned http_status_for(upgrade_error err) noexcept;
// One line naming the problem and its RFC clause.
std::string_view describe(upgrade_error err) noexcept;

// What a valid upgrade request asks for.
struct websocket_upgrade {
  std::string_view path;
  std::string_view query;
  std::string_view host;                    // Host, or the authority of an absolute-form target
  std::optional<std::string_view> origin;   // for the gateway's allow-list (RFC 6455 §10.2)
  std::string_view key;                     // Sec-WebSocket-Key, validated
  std::vector<std::string_view> protocols;  // Sec-WebSocket-Protocol, in the client's order
  std::vector<extension_offer> extensions;  // Sec-WebSocket-Extensions, in the client's order
};

struct upgrade_result {
  upgrade_error error = upgrade_error::none;
  unsigned status = 101;    // the status to answer with
  std::string_view reason;  // one line with the RFC clause; empty when ok()
  websocket_upgrade upgrade;  // filled only when ok()
  bool ok() const noexcept { return error == upgrade_error::none; }
};

// True if the request carries an Upgrade field at all. Without one it is plain HTTP: serve it, or
// answer 426 on a WebSocket-only path (build_error_response of not_upgrade does that).
bool is_upgrade_attempt(const http_request& req) noexcept;

// Checks a complete request against RFC 6455 §4.2.1 and gathers what it asks for. Checks run in
// a fixed order: Upgrade present, method, version, Host, Upgrade/Connection tokens,
// Sec-WebSocket-Version, Sec-WebSocket-Key, Origin, subprotocols, extensions.
upgrade_result validate_upgrade(const http_request& req);

// Sec-WebSocket-Key: exactly 24 characters of base64 with "==" padding, decoding to 16 bytes with
// the unused low bits zero (canonical, RFC 4648 §3.5).
bool is_valid_websocket_key(std::string_view key) noexcept;

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (RFC 6455 §4.2.2 item 5.4).
inline constexpr std::size_t accept_key_size = 28;
using accept_key = std::array<char, accept_key_size>;
accept_key compute_accept_key(std::string_view client_key) noexcept;

// A response to build. Header names must be tokens and values free of CR, LF and NUL; a line
// that is not is dropped (asserted in debug builds), so a response cannot be split.
struct http_response {
  unsigned status = 200;                    // 100..999
  std::string_view content_type;            // Content-Type, omitted when empty
  std::string_view body;
  std::span<const http_header> headers;     // extra lines, written in order after the status line
  bool close = false;                       // adds "Connection: close"
  bool head = false;  // answer to HEAD: Content-Length of body, body not sent (RFC 9110 §9.3.2)
};
// Appends status line, headers, Content-Length (not for 1xx, 204, 304: RFC 9110 §8.6, §15.4.5)
// and body to `out`. No Date: core has no clock (the gateway may add one in `headers`).
void append_http_response(std::string& out, const http_response& response);
std::string build_http_response(const http_response& response);
// The standard reason phrase, or "" for a code this table does not know (RFC 9112 §4 allows it).
std::string_view reason_phrase(unsigned status) noexcept;

// 101 Switching Protocols with Sec-WebSocket-Accept for `client_key`, and the chosen subprotocol
// and Sec-WebSocket-Extensions value when not empty (RFC 6455 §4.2.2 item 5).
void append_upgrade_response(std::string& out, std::string_view client_key,
                             std::string_view protocol = {}, std::string_view extensions = {},
                             std::span<const http_header> extra_headers = {});
std::string build_upgrade_response(std::string_view client_key, std::string_view protocol = {},
                                   std::string_view extensions = {},
                                   std::span<const http_header> extra_headers = {});

// A refusal: status line, the extra headers, Content-Type: text/plain; charset=utf-8 (reasons
// contain "§"), Content-Length, Connection: close, and `reason` plus a newline as the body.
std::string build_error_response(unsigned status, std::string_view reason,
                                 std::span<const http_header> extra_headers = {});
// The refusal for a failed upgrade, with the headers its status requires: 405 Allow: GET;
// 426 Upgrade: websocket, Connection: Upgrade, close, Sec-WebSocket-Version: 13.
// Precondition: !result.ok().
std::string build_error_response(const upgrade_result& result);
// The refusal for a head the parser rejected (400, 414, 431 or 505).
std::string build_error_response(http_error err);

}  // namespace shoal::core
