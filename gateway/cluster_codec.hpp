// What Shoal stores in JetStream and reads back, as pure functions (no NATS types, no I/O), so
// every rule has a unit test. A *record* is one stored NATS message on subject
// PREFIX.t.<topic>; it holds one message of the topic or several published together (while an
// earlier record of the topic was being confirmed). Its headers:
//   Shoal-Seq:   the topic sequence number of its first message
//   Shoal-Count: how many messages it holds (absent: 1)
//   Shoal-Prev:  the stream sequence of the topic's previous record (0: none), which JetStream
//                checked (Nats-Expected-Last-Subject-Sequence), so the records of a topic form
//                one chain that any node can walk back and check for holes.
// Body: the message's JSON `data` as is when it holds one; else each message as
// "<decimal length>:<data>", one after the other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::gateway::cluster {

inline constexpr const char* header_seq = "Shoal-Seq";
inline constexpr const char* header_count = "Shoal-Count";
inline constexpr const char* header_prev = "Shoal-Prev";
inline constexpr const char* header_node = "Shoal-Node";

// A decimal number without sign or spaces that fits 64 bits.
std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept;

// Appends one message to the body of a record of several.
void append_entry(std::string& body, std::string_view data);
// Bytes append_entry adds for `data`.
std::size_t entry_size(std::string_view data) noexcept;

// The `count` messages of a record body into `out` (views into `body`). False, with `out`
// cleared, when the body does not hold exactly that many well-formed entries.
bool split_record(std::string_view body, std::uint64_t count, std::vector<std::string_view>& out);

// JetStream's answer to a publish: {"stream":"S","seq":N[,"duplicate":true]} or
// {"error":{"code":C,"err_code":E,"description":"..."}}.
struct publish_ack {
  bool ok = false;
  std::uint64_t seq = 0;        // ok: the stream sequence of the stored record
  std::uint32_t err_code = 0;   // !ok: JetStream's error code (0 when the answer was not JSON)
  std::string description;      // !ok: what went wrong
};
inline constexpr std::uint32_t err_wrong_last_sequence = 10071;
publish_ack parse_publish_ack(std::string_view json);

}  // namespace shoal::gateway::cluster
