// Fuzz target for the `shoal.v1` command parser. The whole input is one client message; then the
// first byte picks a content type and the rest is an HTTP publish body. Invariants: a parsed
// command has a valid topic, a canonical id, `since` only on sub, `data` exactly on pub as one
// JSON value found verbatim in the input, and the command re-encoded parses back to itself; a
// refusal carries a known code, a reason and only a valid topic and id; the answers the server
// would send are valid JSON; an HTTP body is accepted exactly as its content type says.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/utf8.hpp"
#include "gateway/pubsub_protocol.hpp"

using namespace shoal::gateway;

namespace {

#define FUZZ_CHECK(cond)                                                                          \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "pubsub_command_fuzz: check failed: %s (line %d)\n", #cond, __LINE__); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

constexpr std::size_t max_topic_len = 200;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// An id as the parser re-encodes it: decimal 0..2^53 without leading zeros, or a quoted string
// of at most 64 printable ASCII characters other than quote and backslash.
bool is_canonical_id(std::string_view id) {
  if (id.empty()) return true;
  if (id.front() == '"') {
    if (id.size() < 2 || id.back() != '"' || id.size() - 2 > max_id_string_len) return false;
    for (char c : id.substr(1, id.size() - 2)) {
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
    }
    return true;
  }
  if (id.size() > 1 && id.front() == '0') return false;
  std::uint64_t n = 0;
  for (char c : id) {
    if (c < '0' || c > '9' || id.size() > 16) return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n <= max_id_integer;
}

// True if `json` is exactly one JSON value with no outer whitespace (checked by a second parser,
// so that the parser under test keeps its views).
bool is_one_json_value(command_parser& checker, std::string_view json) {
  if (json.empty() || is_space(json.front()) || is_space(json.back())) return false;
  const http_body_outcome r = checker.parse_http_body(json, "application/json");
  return r.ok && r.data == json;
}

const char* op_name(client_op op) {
  switch (op) {
    case client_op::subscribe: return "sub";
    case client_op::unsubscribe: return "unsub";
    case client_op::publish: return "pub";
    case client_op::authenticate: return "auth";
  }
  return "?";
}

// An auth command: a token and perhaps an id, nothing else; it re-encodes and parses back.
void check_auth(command_parser& checker, const client_command& c) {
  FUZZ_CHECK(c.topic.empty() && c.data.empty() && !c.since);
  FUZZ_CHECK(is_canonical_id(c.id));
  const std::string token(c.token);  // the parser's views end at its next call
  const std::string id(c.id);
  std::string again = R"({"op":"auth","token":)";
  append_json_string(again, token);
  if (!id.empty()) again += ",\"id\":" + id;
  again += '}';
  const parse_outcome back = checker.parse(again, max_topic_len);
  FUZZ_CHECK(back.ok && back.command.op == client_op::authenticate);
  FUZZ_CHECK(back.command.token == token && back.command.id == id);
  std::string answer;
  encode_authed(answer, 1'700'000'000, token, id);
  FUZZ_CHECK(is_one_json_value(checker, answer));
}

void check_command(command_parser& checker, std::string_view input, const client_command& c,
                   bool data_last) {
  if (c.op == client_op::authenticate) {
    check_auth(checker, c);
    return;
  }
  FUZZ_CHECK(c.token.empty());
  FUZZ_CHECK(is_valid_topic(c.topic, max_topic_len));
  FUZZ_CHECK(is_canonical_id(c.id));
  FUZZ_CHECK(!c.since || c.op == client_op::subscribe);
  FUZZ_CHECK((c.op == client_op::publish) == !c.data.empty());
  if (c.op == client_op::publish) {
    FUZZ_CHECK(input.find(c.data) != std::string_view::npos);  // kept byte for byte
    FUZZ_CHECK(is_one_json_value(checker, c.data));
    std::string delivery(delivery_json_size(c.topic, 42, c.data), '\0');
    FUZZ_CHECK(write_delivery_json(delivery.data(), c.topic, 42, c.data) == delivery.size());
    FUZZ_CHECK(is_one_json_value(checker, delivery));
  }

  // The command re-encoded canonically parses back to the same command.
  std::string again = R"({"op":")";
  again += op_name(c.op);
  again += R"(",)";
  if (c.op == client_op::publish && !data_last) {
    again += R"("data":)";
    again += c.data;
    again += ',';
  }
  again += R"("topic":")";
  again += c.topic;
  again += '"';
  if (c.since) again += ",\"since\":" + std::to_string(*c.since);
  if (!c.id.empty()) {
    again += ",\"id\":";
    again += c.id;
  }
  if (c.op == client_op::publish && data_last) {
    again += R"(, "data" : )";
    again += c.data;
    again += " \n";
  }
  again += '}';
  const parse_outcome back = checker.parse(again, max_topic_len);
  FUZZ_CHECK(back.ok);
  FUZZ_CHECK(back.command.op == c.op);
  FUZZ_CHECK(back.command.topic == c.topic);
  FUZZ_CHECK(back.command.since == c.since);
  FUZZ_CHECK(back.command.data == c.data);
  FUZZ_CHECK(back.command.id == c.id);

  std::string answer;
  if (c.op == client_op::subscribe) encode_subscribed(answer, c.topic, 7, c.id);
  if (c.op == client_op::unsubscribe) encode_unsubscribed(answer, c.topic, c.id);
  if (c.op == client_op::publish) encode_ack(answer, c.topic, 7, c.id);
  FUZZ_CHECK(is_one_json_value(checker, answer));
}

void check_refusal(command_parser& checker, const parse_outcome& r) {
  FUZZ_CHECK(r.error == protocol_error_code::bad_json ||
             r.error == protocol_error_code::bad_message ||
             r.error == protocol_error_code::bad_topic);
  FUZZ_CHECK(!r.message.empty());
  FUZZ_CHECK(is_canonical_id(r.id));
  FUZZ_CHECK(r.topic.empty() || is_valid_topic(r.topic, max_topic_len));
  std::string answer;
  encode_error(answer, r.error, r.message, r.id, r.topic);
  FUZZ_CHECK(is_one_json_value(checker, answer));
}

void check_http_body(command_parser& parser, command_parser& checker, std::uint8_t selector,
                     std::string_view body) {
  static constexpr std::string_view content_types[] = {
      "application/json", "text/plain", "Application/JSON; charset=utf-8",
      "application/cloudevents+json", "text/plain; charset=utf-8", "",
      "application/octet-stream", " application/json "};
  const std::string_view type = content_types[selector % std::size(content_types)];
  const bool json = is_json_content_type(type);
  const http_body_outcome r = parser.parse_http_body(body, type);
  if (json) {
    std::string_view trimmed = body;
    while (!trimmed.empty() && is_space(trimmed.front())) trimmed.remove_prefix(1);
    while (!trimmed.empty() && is_space(trimmed.back())) trimmed.remove_suffix(1);
    if (r.ok) {
      FUZZ_CHECK(r.data == trimmed);
      FUZZ_CHECK(r.data.data() == trimmed.data());  // a view into the body, not a copy
      FUZZ_CHECK(is_one_json_value(checker, r.data));
    } else {
      FUZZ_CHECK(r.error == protocol_error_code::bad_json);
      FUZZ_CHECK(!r.message.empty());
    }
    return;
  }
  const bool utf8 =
      shoal::core::validate_utf8(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  FUZZ_CHECK(r.ok == utf8);
  if (!r.ok) {
    FUZZ_CHECK(r.error == protocol_error_code::bad_message);
    return;
  }
  FUZZ_CHECK(r.data.size() >= body.size() + 2 && r.data.front() == '"' && r.data.back() == '"');
  FUZZ_CHECK(is_one_json_value(checker, r.data));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Reused across inputs, as a shard reuses its parser: buffer growth and reuse are exercised.
  static command_parser parser;
  static command_parser checker;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const parse_outcome r = parser.parse(input, max_topic_len);
  if (r.ok) {
    check_command(checker, input, r.command, size > 0 && (data[0] & 1) != 0);
  } else {
    check_refusal(checker, r);
  }

  if (size > 0) check_http_body(parser, checker, data[0], input.substr(1));
  return 0;
}
