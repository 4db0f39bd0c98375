// Which JWT each connection presents and where (issue 16): --token or --token-file, taken round
// robin by the connection's index in the whole run (every thread and every --processes child, as
// url_plan does for URLs), in the upgrade request's Authorization header, in a token= query
// parameter, or in a first message {"op":"auth",...} answered by "authed". Built by the main
// thread before the workers start (and before any fork); read-only after. The functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::loadgen {

enum class token_placement : std::uint8_t {
  header,   // Authorization: Bearer <jwt> on the upgrade request
  query,    // ?token=<jwt> (or &token=) on the request target
  message,  // {"op":"auth","token":"<jwt>"} once open; open for the scenario only after "authed"
};

// "header", "query" or "message"; nullopt for anything else.
std::optional<token_placement> parse_token_placement(std::string_view name) noexcept;

struct token_plan {
  std::vector<std::string> tokens;  // empty: connections present no token
  token_placement placement = token_placement::header;

  // The token of the run's connection `index` (0-based over the run), or empty when there is none.
  std::string_view token_for(std::uint64_t index) const noexcept {
    if (tokens.empty()) return {};
    return tokens[index % tokens.size()];
  }
};

// Where `token` first has a character that is not base64url (A-Z a-z 0-9 - _) or '.', or npos
// if it has none. A JWT is three base64url parts joined by dots.
std::size_t bad_token_char(std::string_view token) noexcept;

// --token-file contents: one token per line, '\r' and surrounding blanks trimmed, blank lines
// skipped. nullopt with `error` set when there is no token or a line has a bad character (the
// line and column are named, the token itself is not printed).
std::optional<std::vector<std::string>> parse_token_lines(std::string_view text, std::string& error);

// Reads and parses the file at `path` (parse_token_lines); `error` names an unreadable file.
std::optional<std::vector<std::string>> read_token_file(const std::string& path, std::string& error);

// `target` (a request target: path and maybe a query) with token=<jwt> added as the last query
// parameter ('?' or '&' as needed, before any '#'); the token is percent-encoded outside RFC 3986
// unreserved characters.
std::string request_target_with_token(std::string_view target, std::string_view token);

// The request header field line for the token: "Authorization: Bearer <jwt>\r\n".
std::string bearer_header(std::string_view token);

// The first message of placement message: {"op":"auth","token":"<jwt>"}.
std::string auth_message(std::string_view token);

// The server's answer to the auth message, read from its text.
enum class auth_answer_kind : std::uint8_t {
  authed,      // {"op":"authed",...}
  refused,     // {"op":"error","code":...}: the connection has failed (a close follows)
  unexpected,  // any other message: the server did not take part in message authentication
};
struct auth_answer {
  auth_answer_kind kind = auth_answer_kind::unexpected;
  std::string_view detail;  // refused: the error code ("" if none); unexpected: the op ("" if none)
};
auth_answer read_auth_answer(std::string_view text) noexcept;

}  // namespace shoal::loadgen
