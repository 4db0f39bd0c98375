// Incremental HTTP/1.1 request-head parser (RFC 9112 §2-§6), sans I/O: feed bytes as they arrive;
// any split of the input gives the same result. It copies the head into its own buffer, which
// grows geometrically up to limits.max_head_bytes and never beyond, and stops at the blank line:
// a body or a pipelined request stays in the caller's buffer (see http_parse_result::consumed).
// Strict: every malformed head is refused with a fine-grained error naming its RFC clause.
// A parser belongs to one connection and is used by one thread; it never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace shoal::core {

// Bounds on one request head, checked before the bytes are buffered.
struct http_limits {
  std::size_t max_head_bytes = 8 * 1024;  // request line + header lines + blank line (<= 16 MiB)
  std::size_t max_headers = 64;           // header field lines
};

enum class http_parse_status : std::uint8_t {
  need_more,  // the whole input was taken; the head is not finished yet
  complete,   // the head is parsed; request() is valid
  error,      // the head is malformed or too large; answer http_status_for(error) and close
};

enum class http_error : std::uint8_t {
  none = 0,
  head_too_large,                 // head over max_head_bytes (431, RFC 6585 §5)
  too_many_headers,               // over max_headers field lines (431, RFC 6585 §5)
  request_line_too_long,          // request line alone over max_head_bytes (414, RFC 9112 §3)
  bare_lf,                        // line ended by LF without CR (RFC 9112 §2.2)
  bare_cr,                        // CR not followed by LF (RFC 9112 §2.2)
  bad_request_line,               // not "method SP request-target SP HTTP-version" (RFC 9112 §3)
  bad_method,                     // method is not a token (RFC 9112 §3.1)
  bad_target,                     // request-target malformed or wrong form (RFC 9112 §3.2)
  bad_version,                    // not "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3)
  unsupported_version,            // major version other than 1 (505, RFC 9110 §15.6.6)
  whitespace_after_request_line,  // first header line starts with whitespace (RFC 9112 §2.2)
  obs_fold,                       // header line folded onto the previous one (RFC 9112 §5.2)
  missing_colon,                  // header line without ':' (RFC 9112 §5)
  whitespace_before_colon,        // whitespace between field name and ':' (RFC 9112 §5.1)
  bad_header_name,                // field name is not a token (RFC 9110 §5.1)
  bad_header_value,               // NUL, CTL or DEL in a field value (RFC 9110 §5.5)
  missing_host,                   // HTTP/1.1 request without Host (RFC 9112 §3.2)
  duplicate_host,                 // more than one Host line (RFC 9112 §3.2)
  bad_host,                       // Host value is not uri-host [":" port] (RFC 9112 §3.2)
  bad_content_length,             // Content-Length not 1*DIGIT, or too large (RFC 9110 §8.6)
  conflicting_content_length,     // Content-Length values disagree (RFC 9112 §6.3)
};

// The status code to answer with: 400 for malformed input, 414, 431 or 505 as noted above.
unsigned http_status_for(http_error err) noexcept;
// One line naming the problem and its RFC clause, for the refusal body and logs.
std::string_view describe(http_error err) noexcept;

struct http_parse_result {
  http_parse_status status = http_parse_status::need_more;
  // Bytes of this call's input that belong to the head. need_more: all of it. complete: up to and
  // including the blank line; what follows (a body, the next request) is the caller's. error: the
  // bytes buffered by this call (the connection is to be closed anyway).
  std::size_t consumed = 0;
  http_error error = http_error::none;
};

struct http_header {
  std::string_view name;   // as received (case preserved)
  std::string_view value;  // leading and trailing SP/HTAB removed
};

enum class target_form : std::uint8_t {
  origin,     // "/path?query" (RFC 9112 §3.2.1)
  absolute,   // "http://host/path?query" (RFC 9112 §3.2.2)
  authority,  // "host:port", CONNECT only (RFC 9112 §3.2.3)
  asterisk,   // "*", OPTIONS only (RFC 9112 §3.2.4)
};

// One parsed request head. Every view points into the parser's buffer (or at a string literal):
// valid until the parser's next reset() or its destruction. Moving the parser keeps them valid
// (its heap storage moves with it); copying an http_request copies views, not bytes.
class http_request {
 public:
  std::string_view method() const noexcept { return method_; }    // case-sensitive (RFC 9110 §9.1)
  std::string_view target() const noexcept { return target_; }    // the request-target as sent
  target_form form() const noexcept { return form_; }
  // origin/absolute form: the path ("/" if the absolute form has none); asterisk: "*"; else "".
  std::string_view path() const noexcept { return path_; }
  std::string_view query() const noexcept { return query_; }     // after '?', without it
  bool has_query() const noexcept { return has_query_; }          // a '?' was present
  std::string_view authority() const noexcept { return authority_; }  // absolute/authority form
  unsigned version_major() const noexcept { return version_major_; }
  unsigned version_minor() const noexcept { return version_minor_; }

  std::span<const http_header> headers() const noexcept { return headers_; }
  // The first value of the field `name` (case-insensitive), if present.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  std::size_t header_count(std::string_view name) const noexcept;
  // Calls f(value) for every line of field `name`, in order (lines of one list combine).
  template <class F>
  void for_each_value(std::string_view name, F&& f) const;

  // The Host field value, or the authority of an absolute-form target (RFC 9112 §3.2.2).
  std::string_view host() const noexcept;
  // Content-Length if present (all lines and list elements agree; RFC 9112 §6.3).
  std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }
  // Transfer-Encoding present: the gateway answers 411/501 and must not trust Content-Length
  // (RFC 9112 §6.1: a request with both must be answered and the connection closed).
  bool has_transfer_encoding() const noexcept { return transfer_encoding_; }
  // Whether the client wants the connection kept open: HTTP/1.1 unless "Connection: close",
  // HTTP/1.0 only with "Connection: keep-alive" (RFC 9112 §9.3).
  bool keep_alive() const noexcept;

 private:
  friend class http_request_parser;

  std::string_view method_, target_, path_, query_, authority_;
  std::span<const http_header> headers_;
  std::optional<std::uint64_t> content_length_;
  target_form form_ = target_form::origin;
  std::uint8_t version_major_ = 1;
  std::uint8_t version_minor_ = 1;
  bool has_query_ = false;
  bool transfer_encoding_ = false;
};

class http_request_parser {
 public:
  explicit http_request_parser(http_limits limits = {}) noexcept;

  // Parses the next bytes of the head. Once complete or failed, further calls take nothing and
  // return the same status (consumed 0) until reset().
  http_parse_result feed(std::span<const std::uint8_t> input) noexcept;
  http_parse_result feed(std::string_view input) noexcept {
    return feed(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
  }

  // The parsed head; meaningful only after feed() returned complete.
  const http_request& request() const noexcept { return request_; }
  http_error error() const noexcept { return error_; }
  bool complete() const noexcept { return state_ == state::complete; }
  bool failed() const noexcept { return state_ == state::failed; }
  // Bytes of the head held so far (0 after reset(): nothing of a request has arrived).
  std::size_t buffered() const noexcept { return buf_.size(); }

  // Ready for the next request on a keep-alive connection; keeps the buffers' capacity and
  // invalidates every view from request().
  void reset() noexcept;

 private:
  enum class state : std::uint8_t { request_line, headers, complete, failed };
  // A byte range of buf_ (offsets stay valid when buf_ grows; views are made at completion).
  struct range {
    std::uint32_t begin = 0;
    std::uint32_t size = 0;
  };
  struct field_ref {
    range name, value;
  };

  void scan() noexcept;
  void line(std::uint32_t begin, std::uint32_t size) noexcept;
  void request_line(std::uint32_t begin, std::uint32_t size) noexcept;
  void header_line(std::uint32_t begin, std::uint32_t size) noexcept;
  void finish() noexcept;
  void fail(http_error err) noexcept;
  std::string_view view(range r) const noexcept { return {buf_.data() + r.begin, r.size}; }

  http_limits limits_;
  std::vector<char> buf_;            // the head so far; capacity <= limits_.max_head_bytes
  std::vector<field_ref> fields_;    // header lines parsed so far
  std::vector<http_header> headers_; // views of fields_, made at completion
  http_request request_;
  range method_, target_;
  std::uint32_t line_start_ = 0;  // offset of the first byte of the current line
  std::uint32_t searched_ = 0;    // bytes before this offset hold no LF of the current line
  std::uint32_t head_end_ = 0;    // complete: offset just past the blank line
  state state_ = state::request_line;
  http_error error_ = http_error::none;
};

// ---- Small RFC 9110 helpers shared by the handshake code -------------------------------------

// tchar (RFC 9110 §5.6.2).
bool is_tchar(unsigned char c) noexcept;
// token = 1*tchar.
bool is_token(std::string_view s) noexcept;
// ASCII case-insensitive equality (field names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;
// Removes leading and trailing SP/HTAB (OWS, RFC 9110 §5.6.3).
std::string_view trim_ows(std::string_view s) noexcept;
// Calls f(element) for every non-empty element of a comma-separated list, trimmed of OWS
// (RFC 9110 §5.6.1; empty elements are ignored). Stops early, returning false, if f does.
template <class F>
bool for_each_list_element(std::string_view list, F&& f) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !f(element)) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}
// Whether a comma-separated list holds `token` (case-insensitive), as "Upgrade" in
// "Connection: keep-alive, Upgrade".
bool list_contains_token(std::string_view list, std::string_view token) noexcept;

template <class F>
void http_request::for_each_value(std::string_view name, F&& f) const {
  for (const http_header& h : headers_) {
    if (iequals(h.name, name)) f(h.value);
  }
}

}  // namespace shoal::core
