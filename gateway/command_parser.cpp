// The `shoal.v1` command parser (protocol in pubsub_protocol.hpp). simdjson's DOM parser
// validates the whole message (structure, numbers, strings, UTF-8) through the run-time
// dispatched kernels; for a publish, a small scanner then finds the raw span of "data" in the
// validated bytes. Only simdjson error codes are used; nothing here throws. A command_parser
// belongs to one thread.
#include "gateway/pubsub_protocol.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "core/utf8.hpp"

namespace shoal::gateway {
namespace {

constexpr bool is_json_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim_json_space(std::string_view s) noexcept {
  while (!s.empty() && is_json_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_json_space(s.back())) s.remove_suffix(1);
  return s;
}

// The one-line reason for a simdjson parse failure.
std::string_view json_error_message(simdjson::error_code err) noexcept {
  switch (err) {
    case simdjson::EMPTY: return "empty message";
    case simdjson::UTF8_ERROR: return "message is not valid UTF-8";
    case simdjson::DEPTH_ERROR: return "JSON nested too deeply";
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE: return "invalid or out-of-range JSON number";
    case simdjson::UNESCAPED_CHARS: return "unescaped control character in a JSON string";
    default: return "message is not valid JSON";
  }
}

// Raw spans in JSON that simdjson has already validated (the DOM keeps no source positions).
// Validity guarantees that every string, array and object closes inside `json`.
std::size_t skip_string(std::string_view json, std::size_t i) noexcept {  // json[i] == '"'
  for (++i; json[i] != '"'; ++i) i += json[i] == '\\' ? 1 : 0;
  return i + 1;
}

std::size_t skip_value(std::string_view json, std::size_t i) noexcept {
  if (json[i] == '"') return skip_string(json, i);
  if (json[i] != '{' && json[i] != '[') {  // a number or literal, followed by one of these
    while (!is_json_space(json[i]) && json[i] != ',' && json[i] != '}' && json[i] != ']') ++i;
    return i;
  }
  std::size_t depth = 0;
  do {
    char c = json[i];
    if (c == '"') {
      i = skip_string(json, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    ++i;
  } while (depth > 0);
  return i;
}

// The raw text of the value of member `member` (of `count`) of the validated object `json`.
std::string_view member_value(std::string_view json, std::size_t member,
                              std::size_t count) noexcept {
  std::size_t i = 0;
  auto skip_space = [&] {
    while (is_json_space(json[i])) ++i;
  };
  skip_space();
  ++i;  // '{'
  for (std::size_t m = 0;; ++m) {
    skip_space();
    i = skip_string(json, i);
    skip_space();
    ++i;  // ':'
    skip_space();
    if (m == member) {
      // The last member ends at the object's closing brace: no need to scan it.
      std::string_view rest = json.substr(i);
      if (m + 1 == count) return trim_json_space(rest.substr(0, rest.rfind('}')));
      return rest.substr(0, skip_value(json, i) - i);
    }
    i = skip_value(json, i);
    skip_space();
    ++i;  // ','
  }
}

// Known keys of a client message, as bit positions.
enum key_index : unsigned { key_op, key_topic, key_since, key_data, key_id, key_token, key_count };

std::optional<client_op> find_op(std::string_view name) noexcept {
  if (name == "sub") return client_op::subscribe;
  if (name == "unsub") return client_op::unsubscribe;
  if (name == "pub") return client_op::publish;
  if (name == "auth") return client_op::authenticate;
  return std::nullopt;
}

int find_key(std::string_view key) noexcept {
  if (key == "op") return key_op;
  if (key == "topic") return key_topic;
  if (key == "since") return key_since;
  if (key == "data") return key_data;
  if (key == "id") return key_id;
  if (key == "token") return key_token;
  return -1;
}

}  // namespace

struct command_parser::impl {
  simdjson::dom::parser dom;
  std::unique_ptr<char[]> buf;  // input copy followed by SIMDJSON_PADDING bytes
  std::size_t buf_size = 0;
  char id_buf[2 + max_id_string_len];  // canonical JSON of the last id
  std::string text_data;               // JSON string made from a text HTTP body

  // Copies `text` into the padded buffer, growing it geometrically when too small.
  const char* load(std::string_view text) {
    std::size_t need = text.size() + simdjson::SIMDJSON_PADDING;
    if (need > buf_size) {
      std::size_t size = std::max(need, buf_size * 2);
      buf = std::make_unique_for_overwrite<char[]>(size);
      buf_size = size;
    }
    if (!text.empty()) std::memcpy(buf.get(), text.data(), text.size());
    std::memset(buf.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    return buf.get();
  }

  // Re-encodes a valid id into id_buf; returns false if `v` is not a valid id.
  bool decode_id(simdjson::dom::element v, std::string_view& id) noexcept {
    std::uint64_t n = 0;
    std::string_view s;
    if (v.is_int64() || v.is_uint64()) {
      if (v.get_uint64().get(n) || n > max_id_integer) return false;
      auto res = std::to_chars(id_buf, id_buf + sizeof id_buf, n);
      id = std::string_view(id_buf, static_cast<std::size_t>(res.ptr - id_buf));
      return true;
    }
    if (v.get_string().get(s) || s.size() > max_id_string_len) return false;
    for (char c : s) {
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
    }
    id_buf[0] = '"';
    if (!s.empty()) std::memcpy(id_buf + 1, s.data(), s.size());
    id_buf[s.size() + 1] = '"';
    id = std::string_view(id_buf, s.size() + 2);
    return true;
  }

  parse_outcome parse(std::string_view text, std::size_t max_topic_len);
  http_body_outcome parse_http_body(std::string_view body, std::string_view content_type);
};

parse_outcome command_parser::impl::parse(std::string_view text, std::size_t max_topic_len) {
  parse_outcome out;
  auto fail = [&out](protocol_error_code code, std::string_view message) {
    out.ok = false;
    out.error = code;
    out.message = message;
    return out;
  };
  using code = protocol_error_code;

  const char* input = load(text);
  simdjson::dom::element root;
  if (auto err = dom.parse(input, text.size(), false).get(root)) {
    if (err == simdjson::MEMALLOC) return fail(code::internal, "out of memory");
    return fail(code::bad_json, json_error_message(err));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return fail(code::bad_message, "message must be a JSON object");

  std::array<simdjson::dom::element, key_count> fields;
  unsigned seen = 0, duplicated = 0;
  std::size_t member = 0, data_member = 0;
  for (simdjson::dom::key_value_pair kv : obj) {
    int k = find_key(kv.key);
    if (k == key_data) data_member = member;
    ++member;
    if (k < 0) continue;  // unknown keys are ignored (validated as JSON above)
    unsigned bit = 1u << k;
    duplicated |= seen & bit;
    seen |= bit;
    fields[static_cast<std::size_t>(k)] = kv.value;
  }
  auto has = [seen](key_index k) { return (seen & (1u << k)) != 0; };

  // The id first, so that every later error can echo it.
  if (has(key_id) && !(duplicated & (1u << key_id)) && !decode_id(fields[key_id], out.id)) {
    return fail(code::bad_message,
                "id must be an integer 0..2^53 or a string of at most 64 printable ASCII "
                "characters other than quote and backslash");
  }
  if (duplicated) return fail(code::bad_message, "duplicate key");

  std::string_view op_name;
  if (!has(key_op)) return fail(code::bad_message, "missing op");
  if (fields[key_op].get_string().get(op_name)) {
    return fail(code::bad_message, "op must be a string");
  }
  std::optional<client_op> found_op = find_op(op_name);
  if (!found_op) return fail(code::bad_message, "unknown op");
  client_op op = *found_op;

  if (op == client_op::authenticate) {
    std::string_view token;
    if (!has(key_token)) return fail(code::bad_message, "auth needs token");
    if (fields[key_token].get_string().get(token)) return fail(code::bad_message, "token must be a string");
    if (seen & ((1u << key_topic) | (1u << key_since) | (1u << key_data)))
      return fail(code::bad_message, "auth takes only token and id");
    out.ok = true;
    out.command = client_command{op, {}, std::nullopt, {}, out.id, token};
    return out;
  }
  if (has(key_token)) return fail(code::bad_message, "token is only allowed on auth");

  std::string_view topic;
  if (!has(key_topic)) return fail(code::bad_message, "missing topic");
  if (fields[key_topic].get_string().get(topic)) {
    return fail(code::bad_message, "topic must be a string");
  }
  if (!is_valid_topic(topic, max_topic_len)) {
    return fail(code::bad_topic,
                "invalid topic: 1..max length bytes of A-Z a-z 0-9 . _ : - /, no leading, "
                "trailing or doubled . or /");
  }
  out.topic = topic;

  std::optional<std::uint64_t> since;
  if (has(key_since)) {
    if (op != client_op::subscribe) {
      return fail(code::bad_message, "since is only allowed on sub");
    }
    std::uint64_t value = 0;
    if (fields[key_since].get_uint64().get(value)) {
      return fail(code::bad_message, "since must be a non-negative integer");
    }
    since = value;
  }

  std::string_view data;
  if (op == client_op::publish) {
    if (!has(key_data)) return fail(code::bad_message, "pub needs data");
    data = member_value(std::string_view(input, text.size()), data_member, member);
  } else if (has(key_data)) {
    return fail(code::bad_message, "data is only allowed on pub");
  }

  out.ok = true;
  out.command = client_command{op, topic, since, data, out.id, {}};
  return out;
}

http_body_outcome command_parser::impl::parse_http_body(std::string_view body,
                                                        std::string_view content_type) {
  http_body_outcome out;
  if (is_json_content_type(content_type)) {
    std::string_view value = trim_json_space(body);
    simdjson::dom::element root;
    if (auto err = dom.parse(load(value), value.size(), false).get(root)) {
      out.error = err == simdjson::MEMALLOC ? protocol_error_code::internal
                                            : protocol_error_code::bad_json;
      out.message = err == simdjson::EMPTY ? "empty JSON body" : "body is not one valid JSON value";
      return out;
    }
    out.ok = true;
    out.data = value;
    return out;
  }
  if (!core::validate_utf8(reinterpret_cast<const std::uint8_t*>(body.data()), body.size())) {
    out.error = protocol_error_code::bad_message;
    out.message = "body is not valid UTF-8";
    return out;
  }
  text_data.clear();
  append_json_string(text_data, body);
  out.ok = true;
  out.data = text_data;
  return out;
}

command_parser::command_parser() : impl_(std::make_unique<impl>()) {}
command_parser::~command_parser() = default;

parse_outcome command_parser::parse(std::string_view text, std::size_t max_topic_len) {
  return impl_->parse(text, max_topic_len);
}

http_body_outcome command_parser::parse_http_body(std::string_view body,
                                                  std::string_view content_type) {
  return impl_->parse_http_body(body, content_type);
}

}  // namespace shoal::gateway
