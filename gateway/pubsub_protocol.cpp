// The `shoal.v1` codec's shared pieces and encoders (protocol in pubsub_protocol.hpp): error
// names, topic and content-type checks, JSON string escaping, and the server's messages,
// written straight into strings or a delivery frame. Pure functions, no threads; the
// command_parser (client messages) is in command_parser.cpp.
#include "gateway/pubsub_protocol.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstring>

namespace shoal::gateway {
namespace {

// Topic byte classes: 0 = not allowed, 1 = segment byte, 2 = separator ('.' or '/').
constexpr std::array<std::uint8_t, 256> topic_byte_classes = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = 1;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = 1;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = 1;
  t['_'] = t[':'] = t['-'] = 1;
  t['.'] = t['/'] = 2;
  return t;
}();

std::size_t decimal_digits(std::uint64_t v) noexcept {
  std::size_t n = 1;
  for (; v >= 10; v /= 10) ++n;
  return n;
}

void append_uint(std::string& out, std::uint64_t v) {
  char tmp[20];
  auto res = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, res.ptr);
}

void append_id(std::string& out, std::string_view id) {
  if (id.empty()) return;
  out += ",\"id\":";
  out += id;
}

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

std::string_view error_code_name(protocol_error_code code) noexcept {
  static constexpr std::string_view names[] = {
      "bad_json",       "bad_message",     "bad_topic",    "too_many_topics",
      "not_subscribed", "message_too_big", "unauthorized", "internal",
      "overloaded", "unavailable",     "rate_limited"};
  auto i = static_cast<std::size_t>(code);
  return i < std::size(names) ? names[i] : "internal";
}

bool is_valid_topic(std::string_view topic, std::size_t max_len) noexcept {
  if (topic.size() > max_len) return false;
  bool after_separator = true;  // rejects a leading separator and the empty topic
  for (char ch : topic) {
    std::uint8_t cls = topic_byte_classes[static_cast<unsigned char>(ch)];
    if (cls == 0 || (cls == 2 && after_separator)) return false;
    after_separator = cls == 2;
  }
  return !after_separator;
}

bool is_json_content_type(std::string_view content_type) noexcept {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  if (ascii_iequals(media, "application/json")) return true;
  constexpr std::string_view prefix = "application/", suffix = "+json";
  return media.size() > prefix.size() + suffix.size() &&
         ascii_iequals(media.substr(0, prefix.size()), prefix) &&
         ascii_iequals(media.substr(media.size() - suffix.size()), suffix);
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    if (c == '"' || c == '\\') {
      const char esc[2] = {'\\', static_cast<char>(c)};
      out.append(esc, 2);
    } else {
      const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
      out.append(esc, 6);
    }
    run = i + 1;
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

// ---- encoders -----------------------------------------------------------------------------

namespace {
// Appends `{"op":"<op>","topic":"<topic>"` (the message is left open).
void open_message(std::string& out, std::string_view op, std::string_view topic) {
  assert(is_valid_topic(topic, topic.size()));
  out += R"({"op":")";
  out += op;
  out += R"(","topic":")";
  out += topic;
  out += '"';
}

// Appends `,"<name>":<value>`.
void append_field(std::string& out, std::string_view name, std::uint64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_uint(out, value);
}
}  // namespace

void encode_subscribed(std::string& out, std::string_view topic, std::uint64_t seq,
                       std::string_view id) {
  open_message(out, "subscribed", topic);
  append_field(out, "seq", seq);
  append_id(out, id);
  out += '}';
}

void encode_unsubscribed(std::string& out, std::string_view topic, std::string_view id) {
  open_message(out, "unsubscribed", topic);
  append_id(out, id);
  out += '}';
}

void encode_ack(std::string& out, std::string_view topic, std::uint64_t seq, std::string_view id) {
  open_message(out, "ack", topic);
  append_field(out, "seq", seq);
  append_id(out, id);
  out += '}';
}

void encode_gap(std::string& out, std::string_view topic, std::uint64_t from, std::uint64_t to) {
  open_message(out, "gap", topic);
  append_field(out, "from", from);
  append_field(out, "to", to);
  out += '}';
}

void encode_too_old(std::string& out, std::string_view topic, std::uint64_t since,
                    std::uint64_t oldest) {
  open_message(out, "too_old", topic);
  append_field(out, "since", since);
  append_field(out, "oldest", oldest);
  out += '}';
}

void encode_authed(std::string& out, std::int64_t expires_at, std::string_view subject,
                   std::string_view id) {
  out += R"({"op":"authed")";
  append_field(out, "exp", static_cast<std::uint64_t>(std::max<std::int64_t>(expires_at, 0)));
  if (!subject.empty()) {
    out += R"(,"sub":)";
    append_json_string(out, subject);
  }
  append_id(out, id);
  out += '}';
}

void encode_error(std::string& out, protocol_error_code code, std::string_view message,
                  std::string_view id, std::string_view topic) {
  out += R"({"op":"error","code":")";
  out += error_code_name(code);
  out += R"(","message":)";
  append_json_string(out, message);
  append_id(out, id);
  if (!topic.empty()) {
    out += R"(,"topic":)";
    append_json_string(out, topic);
  }
  out += '}';
}

namespace {
constexpr std::string_view msg_head = R"({"op":"msg","topic":")";
constexpr std::string_view msg_seq = R"(","seq":)";
constexpr std::string_view msg_data = R"(,"data":)";

char* put(char* out, std::string_view s) noexcept {
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}
}  // namespace

std::size_t delivery_json_size(std::string_view topic, std::uint64_t seq,
                               std::string_view data) noexcept {
  return msg_head.size() + topic.size() + msg_seq.size() + decimal_digits(seq) + msg_data.size() +
         data.size() + 1;
}

std::size_t write_delivery_json(char* out, std::string_view topic, std::uint64_t seq,
                                std::string_view data) noexcept {
  assert(is_valid_topic(topic, topic.size()));
  char* p = put(out, msg_head);
  p = put(p, topic);
  p = put(p, msg_seq);
  p = std::to_chars(p, p + 20, seq).ptr;
  p = put(p, msg_data);
  p = put(p, data);
  *p++ = '}';
  return static_cast<std::size_t>(p - out);
}

}  // namespace shoal::gateway
