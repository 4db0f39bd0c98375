// Fuzz target for the HTTP request parser and the WebSocket handshake. The first byte picks the
// limits (default or tiny) and a split point; the rest is the request. Invariants: whole, split
// and byte-by-byte feeds agree; a complete head was consumed within the input; upgrade validation
// agrees across feeds; responses are well-formed (one blank line, Content-Length matches the
// body); formatted extension offers parse back to themselves. A broken invariant aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/extension_offer.hpp"
#include "core/handshake.hpp"
#include "core/http_request.hpp"

using namespace shoal::core;

namespace {

#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "handshake_fuzz: check failed: %s (line %d)\n", #cond, __LINE__); \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

struct fed {
  http_parse_status status;
  http_error error;
  std::size_t consumed;
};

fed feed_in(http_request_parser& p, std::span<const std::uint8_t> input, std::size_t chunk) {
  fed out{http_parse_status::need_more, http_error::none, 0};
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min(chunk, input.size() - pos);
    const http_parse_result r = p.feed(input.subspan(pos, n));
    FUZZ_CHECK(r.consumed <= n);
    out = {r.status, r.error, out.consumed + r.consumed};
    pos += n;
    if (r.status != http_parse_status::need_more) break;
    FUZZ_CHECK(r.consumed == n);
  } while (pos < input.size());
  return out;
}

void same_request(const http_request& a, const http_request& b) {
  FUZZ_CHECK(a.method() == b.method() && a.target() == b.target() && a.path() == b.path());
  FUZZ_CHECK(a.query() == b.query() && a.host() == b.host() && a.form() == b.form());
  FUZZ_CHECK(a.version_minor() == b.version_minor() && a.keep_alive() == b.keep_alive());
  FUZZ_CHECK(a.content_length() == b.content_length());
  FUZZ_CHECK(a.has_transfer_encoding() == b.has_transfer_encoding());
  FUZZ_CHECK(a.headers().size() == b.headers().size());
  for (std::size_t i = 0; i < a.headers().size(); ++i) {
    FUZZ_CHECK(a.headers()[i].name == b.headers()[i].name);
    FUZZ_CHECK(a.headers()[i].value == b.headers()[i].value);
  }
}

// One status line, header lines without stray CR/LF, one blank line, and a body of the length
// announced by Content-Length (when there is one).
void check_response(const std::string& resp) {
  FUZZ_CHECK(resp.rfind("HTTP/1.1 ", 0) == 0);
  const std::size_t end = resp.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos);
  const std::string_view head = std::string_view(resp).substr(0, end + 2);
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r') FUZZ_CHECK(i + 1 < head.size() && head[i + 1] == '\n');
    if (head[i] == '\n') FUZZ_CHECK(i > 0 && head[i - 1] == '\r');
  }
  const std::size_t cl = head.find("\r\nContent-Length: ");
  const std::size_t body = resp.size() - end - 4;
  if (cl != std::string_view::npos) {
    FUZZ_CHECK(std::to_string(body) == head.substr(cl + 18, head.find('\r', cl + 2) - cl - 18));
  } else {
    FUZZ_CHECK(body == 0);
  }
}

void check_upgrade(const http_request& req, const http_request& other) {
  const upgrade_result u = validate_upgrade(req);
  const upgrade_result v = validate_upgrade(other);
  FUZZ_CHECK(u.error == v.error && u.status == v.status);
  if (!u.ok()) {
    FUZZ_CHECK(!u.reason.empty());
    check_response(build_error_response(u));
    return;
  }
  FUZZ_CHECK(u.status == 101 && is_valid_websocket_key(u.upgrade.key));
  FUZZ_CHECK(u.upgrade.protocols == v.upgrade.protocols);
  const std::string extensions = format_extensions(u.upgrade.extensions);
  FUZZ_CHECK(extensions == format_extensions(v.upgrade.extensions));
  FUZZ_CHECK(extensions.find_first_of("\r\n") == std::string::npos);
  if (!extensions.empty()) {  // formatting is a fixed point of parse + format
    std::vector<extension_offer> again;
    FUZZ_CHECK(parse_extension_offers(extensions, again) == extension_error::none);
    FUZZ_CHECK(format_extensions(again) == extensions);
  }
  const std::string_view protocol = u.upgrade.protocols.empty() ? "" : u.upgrade.protocols[0];
  const std::string resp = build_upgrade_response(u.upgrade.key, protocol, extensions);
  check_response(resp);
  FUZZ_CHECK(resp.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::span<const std::uint8_t> input(data + 1, size - 1);
  const http_limits limits = (control & 0x80) ? http_limits{200, 6} : http_limits{};
  const std::size_t split = input.size() * (control & 0x7f) / 0x7f;

  http_request_parser whole(limits);
  const fed a = feed_in(whole, input, input.size() + 1);

  http_request_parser two(limits);
  fed b = feed_in(two, input.first(split), split + 1);
  if (b.status == http_parse_status::need_more) {
    const fed rest = feed_in(two, input.subspan(split), input.size() + 1);
    b = {rest.status, rest.error, b.consumed + rest.consumed};
  }
  http_request_parser bytes(limits);
  const fed c = feed_in(bytes, input, 1);

  for (const fed* f : {static_cast<const fed*>(&b), &c}) {
    FUZZ_CHECK(f->status == a.status && f->error == a.error);
    if (a.status != http_parse_status::error) FUZZ_CHECK(f->consumed == a.consumed);
  }
  switch (a.status) {
    case http_parse_status::need_more:
      FUZZ_CHECK(a.consumed == input.size() && input.size() < limits.max_head_bytes);
      return 0;
    case http_parse_status::error:
      FUZZ_CHECK(a.error != http_error::none);
      FUZZ_CHECK(describe(a.error).find("RFC ") != std::string_view::npos);
      check_response(build_error_response(a.error));
      return 0;
    case http_parse_status::complete:
      break;
  }
  FUZZ_CHECK(a.consumed <= input.size() && a.consumed <= limits.max_head_bytes);
  FUZZ_CHECK(whole.request().headers().size() <= limits.max_headers);
  same_request(whole.request(), two.request());
  same_request(whole.request(), bytes.request());
  check_upgrade(whole.request(), bytes.request());
  check_response(build_http_response({200, "text/plain", whole.request().path(), {}, true, false}));

  // A pipelined request after the head: the parser is reusable after reset().
  whole.reset();
  const fed next = feed_in(whole, input.subspan(a.consumed), input.size() + 1);
  if (next.status == http_parse_status::complete) (void)validate_upgrade(whole.request());
  return 0;
}
