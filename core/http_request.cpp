// Incremental HTTP/1.1 request-head parser: line splitting, request line, field lines, and the
// checks on the whole head (Host, Content-Length). Invariants: buf_ never holds more than
// limits_.max_head_bytes bytes; bytes before searched_ hold no LF of the current line, so every
// byte is scanned once whatever the split; views are made only once the head is complete.
// Used by one thread; never throws (out-of-memory while growing the buffer terminates).
#include "core/http_request.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace shoal::core {
namespace {

constexpr std::size_t max_head_limit = std::size_t{16} << 20;  // offsets are 32-bit

constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> tchar_table = make_tchar_table();

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// unreserved / pct-encoded / sub-delims of RFC 3986 §3.2.2 reg-name (the '%' is not checked
// further: the host is not decoded here).
bool is_reg_name_char(char c) noexcept {
  return is_alpha(c) || is_digit(c) || std::string_view("-._~%!$&'()*+,;=").find(c) !=
                                           std::string_view::npos;
}

// uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2-§3.2.3). No userinfo (RFC 9110 §4.2.4).
bool valid_host(std::string_view s, bool allow_empty) noexcept {
  if (s.empty()) return allow_empty;
  std::size_t i = 0;
  if (s[0] == '[') {  // IP-literal: hex digits, ':', '.', and IPvFuture's unreserved/sub-delims
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!is_reg_name_char(c) && c != ':') return false;
    }
    i = close + 1;
  } else {
    while (i < s.size() && is_reg_name_char(s[i])) ++i;
    if (i == 0) return false;
  }
  if (i == s.size()) return true;
  if (s[i] != ':') return false;
  for (char c : s.substr(i + 1)) {
    if (!is_digit(c)) return false;
  }
  return true;
}

struct target_parts {
  bool ok = false;
  target_form form = target_form::origin;
  std::string_view path, query, authority;
  bool has_query = false;
};

void split_query(std::string_view s, target_parts& out) noexcept {
  const std::size_t q = s.find('?');
  out.path = s.substr(0, q);
  if (q != std::string_view::npos) {
    out.query = s.substr(q + 1);
    out.has_query = true;
  }
}

// Classifies and splits a request-target (RFC 9112 §3.2). Bytes are VCHAR without '#': a
// fragment is never sent (RFC 9112 §3.2), and raw spaces or controls end the parse earlier.
target_parts parse_target(std::string_view method, std::string_view target) noexcept {
  target_parts out;
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') return out;
  }
  if (target == "*") {  // asterisk-form, OPTIONS only (§3.2.4)
    out.form = target_form::asterisk;
    out.path = target;
    out.ok = method == "OPTIONS";
    return out;
  }
  if (method == "CONNECT") {  // authority-form, and only it (§3.2.3): uri-host ":" port
    const std::size_t colon = target.rfind(':');
    out.form = target_form::authority;
    out.authority = target;
    out.ok = colon != std::string_view::npos && colon + 1 < target.size() &&
             valid_host(target, false);
    return out;
  }
  if (target[0] == '/') {  // origin-form (§3.2.1)
    split_query(target, out);
    out.ok = true;
    return out;
  }
  // absolute-form (§3.2.2): scheme "://" authority path-abempty [ "?" query ]
  std::size_t i = 0;
  while (i < target.size() && (is_alpha(target[i]) || (i > 0 && (is_digit(target[i]) ||
                               target[i] == '+' || target[i] == '-' || target[i] == '.')))) {
    ++i;
  }
  if (i == 0 || target.substr(i, 3) != "://") return out;
  const std::string_view rest = target.substr(i + 3);
  const std::size_t end = std::min(rest.find('/'), rest.find('?'));
  out.form = target_form::absolute;
  out.authority = rest.substr(0, end);
  if (!valid_host(out.authority, false)) return out;
  const std::string_view tail =
      end == std::string_view::npos ? std::string_view() : rest.substr(end);
  split_query(tail, out);
  if (out.path.empty()) out.path = "/";  // an empty path means "/" (RFC 9110 §4.2.3)
  out.ok = true;
  return out;
}

}  // namespace

bool is_tchar(unsigned char c) noexcept { return tchar_table[c]; }

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!tchar_table[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool list_contains_token(std::string_view list, std::string_view token) noexcept {
  return !for_each_list_element(list, [&](std::string_view e) { return !iequals(e, token); });
}

unsigned http_status_for(http_error err) noexcept {
  switch (err) {
    case http_error::none: return 200;
    case http_error::head_too_large:
    case http_error::too_many_headers: return 431;
    case http_error::request_line_too_long: return 414;
    case http_error::unsupported_version: return 505;
    default: return 400;
  }
}

std::string_view describe(http_error err) noexcept {
  switch (err) {
    case http_error::none: return "no error";
    case http_error::head_too_large: return "request header fields too large (RFC 6585 §5)";
    case http_error::too_many_headers: return "too many request header fields (RFC 6585 §5)";
    case http_error::request_line_too_long: return "request line too long (RFC 9112 §3)";
    case http_error::bare_lf: return "line not terminated by CRLF (RFC 9112 §2.2)";
    case http_error::bare_cr: return "bare CR not followed by LF (RFC 9112 §2.2)";
    case http_error::bad_request_line:
      return "request line is not method SP request-target SP HTTP-version (RFC 9112 §3)";
    case http_error::bad_method: return "method is not a token (RFC 9112 §3.1)";
    case http_error::bad_target: return "malformed request-target (RFC 9112 §3.2)";
    case http_error::bad_version: return "malformed HTTP-version (RFC 9112 §2.3)";
    case http_error::unsupported_version:
      return "HTTP major version not supported (RFC 9110 §15.6.6)";
    case http_error::whitespace_after_request_line:
      return "whitespace between request line and first header field (RFC 9112 §2.2)";
    case http_error::obs_fold: return "obsolete line folding in header field (RFC 9112 §5.2)";
    case http_error::missing_colon: return "header field line without colon (RFC 9112 §5)";
    case http_error::whitespace_before_colon:
      return "whitespace between header field name and colon (RFC 9112 §5.1)";
    case http_error::bad_header_name: return "header field name is not a token (RFC 9110 §5.1)";
    case http_error::bad_header_value:
      return "control character in header field value (RFC 9110 §5.5)";
    case http_error::missing_host: return "HTTP/1.1 request without Host (RFC 9112 §3.2)";
    case http_error::duplicate_host: return "more than one Host header field (RFC 9112 §3.2)";
    case http_error::bad_host: return "invalid Host header field value (RFC 9112 §3.2)";
    case http_error::bad_content_length: return "invalid Content-Length (RFC 9110 §8.6)";
    case http_error::conflicting_content_length:
      return "conflicting Content-Length values (RFC 9112 §6.3)";
  }
  return "unknown HTTP error";
}

std::optional<std::string_view> http_request::header(std::string_view name) const noexcept {
  for (const http_header& h : headers_) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::size_t http_request::header_count(std::string_view name) const noexcept {
  return static_cast<std::size_t>(std::count_if(headers_.begin(), headers_.end(),
      [&](const http_header& h) { return iequals(h.name, name); }));
}

std::string_view http_request::host() const noexcept {
  if (form_ == target_form::absolute) return authority_;
  return header("Host").value_or(std::string_view());
}

bool http_request::keep_alive() const noexcept {
  bool close = false;
  bool keep = false;
  for_each_value("Connection", [&](std::string_view v) {
    close = close || list_contains_token(v, "close");
    keep = keep || list_contains_token(v, "keep-alive");
  });
  if (close) return false;
  return version_minor_ >= 1 || keep;
}

http_request_parser::http_request_parser(http_limits limits) noexcept : limits_(limits) {
  limits_.max_head_bytes = std::min(limits_.max_head_bytes, max_head_limit);
}

void http_request_parser::reset() noexcept {
  buf_.clear();
  fields_.clear();
  headers_.clear();
  request_ = http_request{};
  method_ = target_ = range{};
  line_start_ = searched_ = head_end_ = 0;
  state_ = state::request_line;
  error_ = http_error::none;
}

void http_request_parser::fail(http_error err) noexcept {
  state_ = state::failed;
  error_ = err;
}

http_parse_result http_request_parser::feed(std::span<const std::uint8_t> input) noexcept {
  if (state_ == state::complete) return {http_parse_status::complete, 0, http_error::none};
  if (state_ == state::failed) return {http_parse_status::error, 0, error_};

  // Take no more than the limit allows: a head that does not end within it is refused.
  const std::size_t old_size = buf_.size();
  const std::size_t take = std::min(input.size(), limits_.max_head_bytes - old_size);
  if (take > 0) {
    const std::size_t need = old_size + take;
    if (need > buf_.capacity()) {
      buf_.reserve(std::min(limits_.max_head_bytes,
                            std::max({need, buf_.capacity() * 2, std::size_t{512}})));
    }
    buf_.insert(buf_.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(take));
    scan();
  }

  if (state_ == state::complete) {
    buf_.resize(head_end_);  // drop bytes past the head; no reallocation, views stay valid
    return {http_parse_status::complete, head_end_ - old_size, http_error::none};
  }
  if (state_ != state::failed && buf_.size() >= limits_.max_head_bytes) {
    // Full and unfinished: the head cannot end within the limit.
    fail(state_ == state::request_line && line_start_ < buf_.size()
             ? http_error::request_line_too_long
             : http_error::head_too_large);
  }
  if (state_ == state::failed) return {http_parse_status::error, take, error_};
  return {http_parse_status::need_more, take, http_error::none};
}

void http_request_parser::scan() noexcept {
  while (state_ == state::request_line || state_ == state::headers) {
    const auto size = static_cast<std::uint32_t>(buf_.size());
    if (searched_ == size) return;
    const char* base = buf_.data();
    const void* lf = std::memchr(base + searched_, '\n', size - searched_);
    if (lf == nullptr) {
      searched_ = size;
      return;
    }
    const auto at = static_cast<std::uint32_t>(static_cast<const char*>(lf) - base);
    if (at == line_start_ || base[at - 1] != '\r') return fail(http_error::bare_lf);
    const std::uint32_t begin = line_start_;
    line_start_ = searched_ = at + 1;
    line(begin, at - 1 - begin);
  }
}

void http_request_parser::line(std::uint32_t begin, std::uint32_t size) noexcept {
  if (view({begin, size}).find('\r') != std::string_view::npos) return fail(http_error::bare_cr);
  if (state_ == state::request_line) {
    // Empty lines before the request line are ignored (RFC 9112 §2.2); they count to the limit.
    if (size > 0) request_line(begin, size);
    return;
  }
  if (size == 0) {
    head_end_ = line_start_;
    return finish();
  }
  header_line(begin, size);
}

void http_request_parser::request_line(std::uint32_t begin, std::uint32_t size) noexcept {
  const std::string_view text = view({begin, size});
  const std::size_t sp1 = text.find(' ');
  const std::size_t sp2 = text.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp1 == sp2) {
    return fail(http_error::bad_request_line);
  }
  const std::string_view method = text.substr(0, sp1);
  const std::string_view target = text.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = text.substr(sp2 + 1);
  if (target.empty() || target.find(' ') != std::string_view::npos) {
    return fail(http_error::bad_request_line);
  }
  if (!is_token(method)) return fail(http_error::bad_method);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return fail(http_error::bad_version);
  }
  if (version[5] != '1') return fail(http_error::unsupported_version);
  if (!parse_target(method, target).ok) return fail(http_error::bad_target);
  method_ = {begin, static_cast<std::uint32_t>(sp1)};
  target_ = {static_cast<std::uint32_t>(begin + sp1 + 1),
             static_cast<std::uint32_t>(target.size())};
  request_.version_major_ = 1;
  request_.version_minor_ = static_cast<std::uint8_t>(version[7] - '0');
  state_ = state::headers;
}

void http_request_parser::header_line(std::uint32_t begin, std::uint32_t size) noexcept {
  const std::string_view text = view({begin, size});
  if (text[0] == ' ' || text[0] == '\t') {
    return fail(fields_.empty() ? http_error::whitespace_after_request_line : http_error::obs_fold);
  }
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return fail(http_error::missing_colon);
  const std::string_view name = text.substr(0, colon);
  if (name.empty()) return fail(http_error::bad_header_name);
  if (name.back() == ' ' || name.back() == '\t') return fail(http_error::whitespace_before_colon);
  if (!is_token(name)) return fail(http_error::bad_header_name);
  const std::string_view value = trim_ows(text.substr(colon + 1));
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return fail(http_error::bad_header_value);
  }
  if (fields_.size() >= limits_.max_headers) return fail(http_error::too_many_headers);
  const auto value_begin = static_cast<std::uint32_t>(value.data() - buf_.data());
  fields_.push_back({{begin, static_cast<std::uint32_t>(colon)},
                     {value_begin, static_cast<std::uint32_t>(value.size())}});
}

void http_request_parser::finish() noexcept {
  headers_.resize(fields_.size());
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    headers_[i] = {view(fields_[i].name), view(fields_[i].value)};
  }
  http_request& r = request_;
  r.method_ = view(method_);
  r.target_ = view(target_);
  const target_parts parts = parse_target(r.method_, r.target_);
  r.form_ = parts.form;
  r.path_ = parts.path;
  r.query_ = parts.query;
  r.has_query_ = parts.has_query;
  r.authority_ = parts.authority;
  r.headers_ = headers_;

  const std::size_t hosts = r.header_count("Host");
  if (hosts > 1) return fail(http_error::duplicate_host);
  if (hosts == 0 && r.version_minor_ >= 1) return fail(http_error::missing_host);
  if (hosts == 1 && !valid_host(*r.header("Host"), true)) return fail(http_error::bad_host);

  // Content-Length = 1*DIGIT; a list of equal values is accepted as one (RFC 9112 §6.3 item 5).
  http_error cl_error = http_error::none;
  std::optional<std::uint64_t> length;
  r.for_each_value("Content-Length", [&](std::string_view v) {
    std::string_view rest = v;
    while (cl_error == http_error::none) {
      const std::size_t comma = rest.find(',');
      const std::string_view element = trim_ows(rest.substr(0, comma));
      // At most 18 digits, so the value fits in 63 bits without an overflow check.
      if (element.empty() || element.size() > 18 ||
          !std::all_of(element.begin(), element.end(), is_digit)) {
        cl_error = http_error::bad_content_length;
        break;
      }
      std::uint64_t n = 0;
      for (char c : element) n = n * 10 + static_cast<std::uint64_t>(c - '0');
      if (length && *length != n) cl_error = http_error::conflicting_content_length;
      length = n;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  });
  if (cl_error != http_error::none) return fail(cl_error);
  r.content_length_ = length;
  r.transfer_encoding_ = r.header_count("Transfer-Encoding") > 0;
  state_ = state::complete;
}

}  // namespace shoal::core
