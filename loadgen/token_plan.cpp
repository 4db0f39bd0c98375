// Token parsing and the handshake pieces of token_plan.hpp. Main thread (file reading) or any
// thread (the pure builders, called by each worker's clients).
#include "loadgen/token_plan.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "loadgen/json_scan.hpp"

namespace shoal::loadgen {
namespace {

bool is_base64url(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// RFC 3986 §2.3.
bool is_unreserved(char c) noexcept { return is_base64url(c) || c == '.' || c == '~'; }

std::string_view trim_blanks(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<token_placement> parse_token_placement(std::string_view name) noexcept {
  if (name == "header") return token_placement::header;
  if (name == "query") return token_placement::query;
  if (name == "message") return token_placement::message;
  return std::nullopt;
}

std::size_t bad_token_char(std::string_view token) noexcept {
  for (std::size_t i = 0; i < token.size(); ++i)
    if (!is_base64url(token[i]) && token[i] != '.') return i;
  return std::string_view::npos;
}

std::optional<std::vector<std::string>> parse_token_lines(std::string_view text, std::string& error) {
  std::vector<std::string> tokens;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    const std::string_view raw = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    const std::string_view line = trim_blanks(raw);
    if (line.empty()) continue;
    if (const std::size_t bad = bad_token_char(line); bad != std::string_view::npos) {
      error = "line " + std::to_string(line_no) + ", column " +
              std::to_string(static_cast<std::size_t>(line.data() - raw.data()) + bad + 1) +
              ": a token has only base64url characters (A-Z a-z 0-9 - _) and '.'";
      return std::nullopt;
    }
    tokens.emplace_back(line);
  }
  if (tokens.empty()) {
    error = "no token in the file (one token per line; blank lines are skipped)";
    return std::nullopt;
  }
  return tokens;
}

std::optional<std::vector<std::string>> read_token_file(const std::string& path, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = std::string("cannot read: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int read_errno = errno;
  std::fclose(f);
  if (failed) {
    error = std::string("cannot read: ") + std::strerror(read_errno);
    return std::nullopt;
  }
  return parse_token_lines(text, error);
}

std::string request_target_with_token(std::string_view target, std::string_view token) {
  const std::size_t hash = target.find('#');
  const std::string_view before = target.substr(0, hash);
  std::string out(before);
  out += before.find('?') == std::string_view::npos ? '?' : '&';
  out += "token=";
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char c : token) {
    if (is_unreserved(c)) {
      out += c;
      continue;
    }
    const auto b = static_cast<unsigned char>(c);
    out += '%';
    out += hex[b >> 4];
    out += hex[b & 0xf];
  }
  if (hash != std::string_view::npos) out += target.substr(hash);
  return out;
}

std::string bearer_header(std::string_view token) {
  std::string out = "Authorization: Bearer ";
  out += token;
  out += "\r\n";
  return out;
}

std::string auth_message(std::string_view token) {
  std::string out = R"({"op":"auth","token":")";
  static constexpr char hex[] = "0123456789abcdef";
  for (const char c : token) {  // a checked token has nothing to escape; an unchecked one stays JSON
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20) {
      out += "\\u00";
      out += hex[b >> 4];
      out += hex[b & 0xf];
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"}";
  return out;
}

auth_answer read_auth_answer(std::string_view text) noexcept {
  const auto op = json_string_member(text, "op");
  if (op && *op == "authed") return {auth_answer_kind::authed, {}};
  if (op && *op == "error") return {auth_answer_kind::refused, json_string_member(text, "code").value_or("")};
  return {auth_answer_kind::unexpected, op.value_or("")};
}

}  // namespace shoal::loadgen
