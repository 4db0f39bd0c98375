// Sec-WebSocket-Extensions parsing and formatting: a small cursor over one field value.
// Invariant: the cursor only moves forward, so parsing is linear in the value's length.
// Stateless functions; safe from any thread on distinct data.
#include "core/extension_offer.hpp"

#include <algorithm>

#include "core/http_request.hpp"

namespace shoal::core {
namespace {

class cursor {
 public:
  explicit cursor(std::string_view s) noexcept : s_(s) {}

  bool done() const noexcept { return pos_ == s_.size(); }
  char peek() const noexcept { return s_[pos_]; }
  void skip() noexcept { ++pos_; }
  void skip_ows() noexcept {
    while (!done() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  std::string_view token() noexcept {
    const std::size_t begin = pos_;
    while (!done() && is_tchar(static_cast<unsigned char>(peek()))) ++pos_;
    return s_.substr(begin, pos_ - begin);
  }
  // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4); the cursor is on
  // the opening quote. Appends the unescaped text to `out`.
  bool quoted_string(std::string& out) noexcept {
    ++pos_;
    while (!done()) {
      const char c = peek();
      ++pos_;
      if (c == '"') return true;
      if (c == '\\') {
        if (done() || !is_text(peek())) return false;
        out.push_back(peek());
        ++pos_;
      } else if (is_text(c)) {
        out.push_back(c);
      } else {
        return false;
      }
    }
    return false;  // unterminated
  }

 private:
  // HTAB / SP / VCHAR / obs-text: what qdtext and quoted-pair allow (DQUOTE and '\' aside).
  static bool is_text(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return c == '\t' || (u >= 0x20 && u != 0x7f);
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

bool needs_quotes(std::string_view value) noexcept { return !is_token(value); }

}  // namespace

const extension_param* extension_offer::find(std::string_view param_name) const noexcept {
  for (const extension_param& p : params) {
    if (iequals(p.name, param_name)) return &p;
  }
  return nullptr;
}

std::size_t extension_offer::count(std::string_view param_name) const noexcept {
  return static_cast<std::size_t>(std::count_if(params.begin(), params.end(),
      [&](const extension_param& p) { return iequals(p.name, param_name); }));
}

std::string_view describe(extension_error err) noexcept {
  switch (err) {
    case extension_error::none: return "no error";
    case extension_error::empty_list:
      return "Sec-WebSocket-Extensions lists no extension (RFC 6455 §9.1)";
    case extension_error::bad_name:
      return "Sec-WebSocket-Extensions: extension name is not a token (RFC 6455 §9.1)";
    case extension_error::bad_param_name:
      return "Sec-WebSocket-Extensions: parameter name is not a token (RFC 6455 §9.1)";
    case extension_error::bad_param_value:
      return "Sec-WebSocket-Extensions: parameter value is not a token (RFC 6455 §9.1)";
    case extension_error::bad_quoted_string:
      return "Sec-WebSocket-Extensions: malformed quoted-string (RFC 9110 §5.6.4)";
    case extension_error::unexpected_character:
      return "Sec-WebSocket-Extensions: expected ';' or ',' (RFC 6455 §9.1)";
  }
  return "unknown extension error";
}

extension_error parse_extension_offers(std::string_view field_value,
                                       std::vector<extension_offer>& out) {
  cursor c(field_value);
  std::size_t extensions = 0;
  while (true) {
    c.skip_ows();
    if (c.done()) break;
    if (c.peek() == ',') {  // empty list element: ignored (RFC 9110 §5.6.1)
      c.skip();
      continue;
    }
    extension_offer offer;
    offer.name = c.token();
    if (offer.name.empty()) return extension_error::bad_name;
    c.skip_ows();
    while (!c.done() && c.peek() == ';') {
      c.skip();
      c.skip_ows();
      extension_param param;
      param.name = c.token();
      if (param.name.empty()) return extension_error::bad_param_name;
      c.skip_ows();
      if (!c.done() && c.peek() == '=') {
        c.skip();
        c.skip_ows();
        param.has_value = true;
        if (!c.done() && c.peek() == '"') {
          if (!c.quoted_string(param.value)) return extension_error::bad_quoted_string;
        } else {
          param.value = std::string(c.token());
        }
        // A quoted value must still be a token once unescaped (RFC 6455 §9.1).
        if (!is_token(param.value)) return extension_error::bad_param_value;
        c.skip_ows();
      }
      offer.params.push_back(std::move(param));
    }
    out.push_back(std::move(offer));
    ++extensions;
    if (c.done()) break;
    if (c.peek() != ',') return extension_error::unexpected_character;
    c.skip();
  }
  return extensions == 0 ? extension_error::empty_list : extension_error::none;
}

void append_extension(std::string& out, std::string_view name,
                      std::span<const extension_param> params) {
  out.append(name);
  for (const extension_param& p : params) {
    out.append("; ");
    out.append(p.name);
    if (!p.has_value) continue;
    out.push_back('=');
    if (!needs_quotes(p.value)) {
      out.append(p.value);
      continue;
    }
    out.push_back('"');
    for (char ch : p.value) {
      if (ch == '"' || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    out.push_back('"');
  }
}

std::string format_extensions(std::span<const extension_offer> extensions) {
  std::string out;
  for (std::size_t i = 0; i < extensions.size(); ++i) {
    if (i > 0) out.append(", ");
    append_extension(out, extensions[i].name, extensions[i].params);
  }
  return out;
}

}  // namespace shoal::core
