// Fuzz target for core/frame_decoder: decodes the input whole, in random-sized pieces and (when
// short) byte by byte, for both roles, and checks that every run yields the same messages,
// control frames and error, that `consumed` never exceeds the input and that nothing follows
// an error. Input: byte 0 picks options, byte 1 seeds the piece sizes, the rest is the wire.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/frame_decoder.hpp"

namespace {

using shoal::core::decode_event;
using shoal::core::decode_status;
using shoal::core::decoder_options;
using shoal::core::frame_decoder;
using shoal::core::opcode;
using shoal::core::protocol_error;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "frame_decoder_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

struct entry {
  decode_status kind;
  opcode op;
  bool compressed;
  bool complete;
  std::vector<std::uint8_t> payload;
  bool operator==(const entry&) const = default;
};

struct run_log {
  std::vector<entry> entries;
  protocol_error error = protocol_error::none;
  bool operator==(const run_log&) const = default;
};

constexpr std::size_t no_message = ~std::size_t{0};

// Feeds `wire` in pieces whose sizes come from `sizes` (0 = the rest), each piece copied into a
// heap buffer of exactly its size so that any read past it is caught by ASan.
template <typename NextSize>
run_log decode(const decoder_options& opts, const std::uint8_t* wire, std::size_t size,
               NextSize next_size) {
  frame_decoder dec(opts);
  run_log log;
  std::size_t open = no_message;  // entry of the message in progress
  std::size_t at = 0;
  do {
    std::size_t n = next_size();
    if (n == 0 || n > size - at) n = size - at;
    std::vector<std::uint8_t> piece(wire + at, wire + at + n);
    at += n;
    std::span<std::uint8_t> rest(piece);
    for (;;) {
      const decode_event ev = dec.next(rest);
      check(ev.consumed <= rest.size(), "consumed exceeds the input");
      if (ev.status == decode_status::need_more) {
        check(ev.consumed == rest.size(), "need_more left input unconsumed");
        break;
      }
      if (ev.status == decode_status::error) {
        check(ev.error != protocol_error::none && dec.failed(), "error without a reason");
        log.error = ev.error;
        const decode_event again = dec.next(rest.subspan(ev.consumed));
        check(again.status == decode_status::error && again.error == ev.error &&
                  again.consumed == 0,
              "event after an error");
        if (ev.error == protocol_error::invalid_utf8 && open != no_message) {
          log.entries.erase(log.entries.begin() + static_cast<std::ptrdiff_t>(open));
        }
        return log;
      }
      const auto* p = ev.payload.data();
      if (ev.status == decode_status::data) {
        check(ev.payload.empty() ||
                  (p >= rest.data() && p + ev.payload.size() <= rest.data() + ev.consumed),
              "data payload outside the consumed input");
        check(ev.op == opcode::text || ev.op == opcode::binary, "data event with a bad opcode");
        check(ev.first == (open == no_message), "first flag out of step");
        if (ev.first) {
          open = log.entries.size();
          log.entries.push_back({ev.status, ev.op, ev.compressed, false, {}});
        }
        entry& m = log.entries[open];
        check(m.op == ev.op && m.compressed == ev.compressed, "message changed opcode");
        m.payload.insert(m.payload.end(), ev.payload.begin(), ev.payload.end());
        if (ev.last) {
          m.complete = true;
          open = no_message;
        }
      } else {
        check(ev.status == decode_status::control && is_control(ev.op), "unknown event");
        check(ev.payload.size() <= shoal::core::max_control_payload, "control payload too long");
        log.entries.push_back({ev.status, ev.op, false, true, {ev.payload.begin(), ev.payload.end()}});
      }
      check(ev.consumed != 0 || ev.status == decode_status::data, "no progress");
      rest = rest.subspan(ev.consumed);
    }
  } while (at < size);
  return log;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t config = data[0];
  std::uint32_t seed = data[1] * 2654435761u + static_cast<std::uint32_t>(size);
  const std::uint8_t* wire = data + 2;
  const std::size_t wire_size = size - 2;
  static constexpr std::uint64_t limits[] = {16u << 20, 0, 64, 1000};

  for (auto local : {shoal::core::role::server, shoal::core::role::client}) {
    const decoder_options opts{.local_role = local,
                               .max_message_size = limits[(config >> 1) & 3],
                               .rsv1_allowed = (config & 1) != 0};
    const run_log whole = decode(opts, wire, wire_size, [] { return std::size_t{0}; });
    const unsigned max_piece = 1u << ((config >> 3) & 7);  // 1 .. 128 bytes
    const run_log pieces = decode(opts, wire, wire_size, [&] {
      seed = seed * 1103515245u + 12345u;
      return std::size_t{1} + (seed >> 16) % max_piece;
    });
    check(pieces == whole, "a random split changed the result");
    if (wire_size <= 512) {
      const run_log bytewise = decode(opts, wire, wire_size, [] { return std::size_t{1}; });
      check(bytewise == whole, "byte-by-byte feeding changed the result");
    }
  }
  return 0;
}
