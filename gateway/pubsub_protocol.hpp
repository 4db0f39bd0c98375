// The `shoal.v1` pub/sub protocol codec: client JSON text messages to typed commands, every
// server message to JSON, and the topic-name rule. Pure functions and one reusable parser; no I/O,
// no threads. A command_parser is owned by one shard and is not thread-safe; the views it returns
// stay valid until its next call. The encoders are free functions and may be called anywhere.
// Invariant: every topic written verbatim into JSON has passed is_valid_topic().
#pragma once

// ---------------------------------------------------------------------------------------------
// Protocol `shoal.v1` (WebSocket subprotocol; text frames, one JSON object per message)
//
// Client -> server
//   {"op":"sub","topic":"prices.btc"}                  subscribe from now on
//   {"op":"sub","topic":"prices.btc","since":41}       resume: every message with seq > 41
//   {"op":"unsub","topic":"prices.btc"}                unsubscribe
//   {"op":"pub","topic":"prices.btc","data":<JSON>}    publish; `data` is any JSON value, kept
//                                                      byte for byte (outer whitespace trimmed)
//   {"op":"auth","token":"<JWT>"}                      authenticate, or refresh the token before
//                                                      it expires (README "Security")
//   Every op may carry "id": an integer 0..2^53 or a string of at most 64 printable ASCII
//   characters other than `"` and `\`. It is echoed (re-encoded canonically) in the answer.
//   "since" (a non-negative integer below 2^64) is only allowed on sub, "data" only on pub,
//   "token" only on auth (which takes no topic).
//   Unknown keys are ignored (for forward compatibility) but must be valid JSON; a known key
//   given twice is rejected. The whole message must be one valid UTF-8 JSON object with nothing
//   but whitespace after it. Integers must fit 64 bits and other numbers a finite double (a
//   simdjson limit, allowed by RFC 8259 §9): send larger numbers as strings.
//
// Server -> client
//   {"op":"subscribed","topic":"t","seq":N[,"id":..]}     N = last seq on the topic (0 if none)
//   {"op":"unsubscribed","topic":"t"[,"id":..]}
//   {"op":"ack","topic":"t","seq":N[,"id":..]}            publish accepted as sequence N
//   {"op":"msg","topic":"t","seq":N,"data":<JSON>}        a delivery
//   {"op":"gap","topic":"t","from":A,"to":B}              messages A..B (inclusive) were not
//                                                         delivered to you (slow consumer)
//   {"op":"too_old","topic":"t","since":S,"oldest":O}     resume point no longer in history;
//                                                         you are subscribed from now on
//   {"op":"authed","exp":E[,"sub":"<subject>"][,"id":..]}  the token is accepted; E = its expiry
//                                                         (Unix seconds), the connection closes
//                                                         with 4001 then unless refreshed
//   {"op":"error","code":"<code>","message":"<text>"[,"id":..][,"topic":"t"]}
//     codes: bad_json (not valid JSON / UTF-8), bad_message (not an object, unknown op, missing
//     or ill-typed field, duplicate key), bad_topic, too_many_topics, not_subscribed,
//     message_too_big, unauthorized (no token yet, a token refused, or a topic its claims do not
//     allow), internal, overloaded, unavailable (cluster: NATS JetStream is unreachable or did
//     not confirm in time; a publish answered so may or may not have been stored, see README
//     "Cluster"), rate_limited (the connection sent more than limits.messages_per_second or
//     bytes_per_second allow; the request was not carried out).
//   Sequence numbers are unsigned 64-bit integers, per topic, starting at 1.
//
// Topic names
//   1..max_len bytes (configurable, default 200) of A-Z a-z 0-9 `.` `_` `:` `-` `/`.
//   `.` and `/` separate segments: a topic must not start or end with one, and must not hold two
//   in a row ("a..b", "a//b", "a./b" are invalid). Being free of characters that JSON escapes,
//   topics are written verbatim into JSON.
// ---------------------------------------------------------------------------------------------

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace shoal::gateway {

inline constexpr std::size_t default_max_topic_len = 200;
inline constexpr std::size_t max_id_string_len = 64;
inline constexpr std::uint64_t max_id_integer = std::uint64_t{1} << 53;

enum class client_op : std::uint8_t { subscribe, unsubscribe, publish, authenticate };

struct client_command {
  client_op op = client_op::subscribe;
  std::string_view topic;              // valid per is_valid_topic()
  std::optional<std::uint64_t> since;  // subscribe only
  std::string_view data;               // publish only: one valid JSON value, raw text
  std::string_view id;                 // canonical JSON of the id, empty if absent
  std::string_view token;              // authenticate only: the JWT (unescaped)
};

enum class protocol_error_code : std::uint8_t {
  bad_json,
  bad_message,
  bad_topic,
  too_many_topics,
  not_subscribed,
  message_too_big,
  unauthorized,
  internal,
  overloaded,  // the topic's home shard is behind; retry later
  unavailable,  // cluster: NATS JetStream did not take or confirm the request; retry later
  rate_limited,  // over the connection's limits.messages_per_second / bytes_per_second
};

// The wire name of `code` ("bad_json", ...).
std::string_view error_code_name(protocol_error_code code) noexcept;

struct parse_outcome {
  bool ok = false;
  client_command command;  // when ok
  // When !ok: the code, a static one-line reason, and the id and topic when they could be
  // recovered (valid), so the error answer can carry them.
  protocol_error_code error = protocol_error_code::internal;
  std::string_view message;
  std::string_view id;
  std::string_view topic;
};

struct http_body_outcome {
  bool ok = false;
  std::string_view data;  // when ok: one valid JSON value
  protocol_error_code error = protocol_error_code::internal;
  std::string_view message;  // when !ok: static text
};

// True if `topic` follows the topic rule above with at most `max_len` bytes.
bool is_valid_topic(std::string_view topic, std::size_t max_len) noexcept;

// True for application/json and application/<anything>+json, any case, parameters ignored.
bool is_json_content_type(std::string_view content_type) noexcept;

// Parses client messages and HTTP publish bodies. Owns a padded input buffer and the simdjson
// parsers; after warming up to the largest message seen it does not allocate. Not thread-safe.
class command_parser {
 public:
  command_parser();
  ~command_parser();
  command_parser(const command_parser&) = delete;
  command_parser& operator=(const command_parser&) = delete;

  // Parses one client text message. Views in the result point into this parser and stay valid
  // until the next call on it. Never throws.
  parse_outcome parse(std::string_view text, std::size_t max_topic_len);

  // Turns an HTTP publish body into the JSON `data` of a message. A JSON content type (see
  // is_json_content_type) needs a body of exactly one valid JSON value, used verbatim (outer
  // whitespace trimmed; the view points into `body`). Any other body must be valid UTF-8 and
  // becomes a JSON string (the view points into this parser, valid until its next call).
  http_body_outcome parse_http_body(std::string_view body, std::string_view content_type);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Appends `text` (valid UTF-8) as a JSON string, quotes included, escaping per RFC 8259 §7:
// `"` and `\` with a backslash, U+0000..U+001F as \u00XX; everything else verbatim.
void append_json_string(std::string& out, std::string_view text);

// Encoders. Each appends one complete JSON message to `out` (a reusable buffer; not cleared).
// `topic` must be valid; `id` is the raw JSON from a parse result, or empty for none.
void encode_subscribed(std::string& out, std::string_view topic, std::uint64_t seq,
                       std::string_view id);
void encode_unsubscribed(std::string& out, std::string_view topic, std::string_view id);
void encode_ack(std::string& out, std::string_view topic, std::uint64_t seq, std::string_view id);
void encode_gap(std::string& out, std::string_view topic, std::uint64_t from, std::uint64_t to);
void encode_too_old(std::string& out, std::string_view topic, std::uint64_t since,
                    std::uint64_t oldest);
// `subject` (any UTF-8) is escaped and left out when empty.
void encode_authed(std::string& out, std::int64_t expires_at, std::string_view subject,
                   std::string_view id);
// `message` and `topic` are escaped (any UTF-8); empty `id`/`topic` are left out.
void encode_error(std::string& out, protocol_error_code code, std::string_view message,
                  std::string_view id, std::string_view topic);

// The delivery, sized exactly so that the caller can allocate one shared block for the WebSocket
// frame header and the JSON: write_delivery_json() writes delivery_json_size() bytes at `out`
// and returns that count. `topic` must be valid and `data` one valid JSON value.
std::size_t delivery_json_size(std::string_view topic, std::uint64_t seq,
                               std::string_view data) noexcept;
std::size_t write_delivery_json(char* out, std::string_view topic, std::uint64_t seq,
                                std::string_view data) noexcept;

}  // namespace shoal::gateway
