// permessage-deflate negotiation (RFC 7692 §5, §7): a server choosing among a client's offers
// under its policy and writing the response element, and a client writing its offer and
// validating a server's response. Also maps the agreed parameters to the settings of the
// compressor and decompressor each side runs (deflater.hpp, inflater.hpp).
// Plain functions and values; safe from any thread on distinct data; never throws after start-up
// except std::bad_alloc from building the response string.
//
// Memory per connection, measured by counting zlib's allocations (deflater/inflater
// memory_bytes(); zlib 1.2.13; printed by DeflateMemory.PerConfiguration in tests/unit/core):
//   compressor with context takeover, window w, memLevel m: (1 << (w + 2)) + (1 << (m + 9)) bytes
//     of tables plus 5.9 KiB of state: 261.8 KiB at w=15 m=8 (zlib's defaults), 134.8 KiB at
//     w=15 m=1, 101.8 KiB at w=13 m=7, 29.8 KiB at w=12 m=4, 17.8 KiB at w=10 m=4.
//   decompressor with context takeover, window w: 7.0 KiB of state, plus the 1 << w window from
//     the first message on: 39.0 KiB at w=15, 11.0 KiB at w=12, 8.0 KiB at w=10.
//   without context takeover in a direction (server_no_context_takeover,
//     client_no_context_takeover) a connection needs nothing of its own for that direction: one
//     shared compressor / decompressor per shard and per settings serves all such connections.
//   the deflater and inflater objects themselves: 136 and 144 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/deflater.hpp"
#include "core/extension_offer.hpp"
#include "core/inflater.hpp"

namespace shoal::core {

inline constexpr std::string_view permessage_deflate_name = "permessage-deflate";
inline constexpr std::uint8_t min_window_bits = 8;   // RFC 7692 §7.1.2
inline constexpr std::uint8_t max_window_bits = 15;  // RFC 7692 §7.1.2

// What both ends agreed for one connection (RFC 7692 §7.1). "server" names what the server
// compresses and the client inflates; "client" the reverse, as in the RFC's parameter names.
// Window bits are upper bounds: the server's side may hold a smaller server window than the
// client's side (policy below 15 without server_max_window_bits offered), which is compatible.
struct deflate_params {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = max_window_bits;
  std::uint8_t client_max_window_bits = max_window_bits;
  friend bool operator==(const deflate_params&, const deflate_params&) = default;
};

// A server's policy. The defaults are the cheap mode: the server never keeps its compression
// context (so one compressor per shard compresses each broadcast once for every subscriber) and
// lets clients keep theirs (a per-connection decompressor, 39 KiB at window 15).
struct deflate_policy {
  bool enabled = false;
  // false: always answer server_no_context_takeover (RFC 7692 §7.1.1.1 lets a server add it).
  // true: keep a per-connection compressor unless the client offers server_no_context_takeover.
  bool server_context_takeover = false;
  // false: always answer client_no_context_takeover (RFC 7692 §7.1.1.2), so received messages
  // can be inflated by one shared decompressor. true: a client may keep its context (unless it
  // offers client_no_context_takeover itself, which the response then confirms).
  bool client_context_takeover = true;
  std::uint8_t server_max_window_bits = max_window_bits;  // 8..15: our compressor's window
  // 8..15: the window we let a client compress with (our decompressor's window). Below 15, only
  // offers carrying client_max_window_bits can be accepted (RFC 7692 §7.1.2.2).
  std::uint8_t client_max_window_bits = max_window_bits;
  std::uint8_t mem_level = 8;          // 1..9: zlib memLevel of our compressors
  std::uint8_t compression_level = 6;  // 0..9: zlib level of our compressors
};

// Empty if `policy` is usable, else one line naming the bad field.
std::string_view check_policy(const deflate_policy& policy) noexcept;

// Why one permessage-deflate element is declined (server) or refused (client).
enum class deflate_param_error : std::uint8_t {
  none = 0,
  unknown_param,        // a parameter RFC 7692 does not define (§7)
  duplicate_param,      // the same parameter twice (§7)
  unexpected_value,     // a value on server_/client_no_context_takeover (§7.1.1)
  missing_value,        // server_max_window_bits without a value (§7.1.2.1); any *_bits in a response
  invalid_value,        // a window size that is not 8..15 (§7.1.2)
  client_window_unlimited,  // policy limits the client window, offer lacks client_max_window_bits (§7.1.2.2)
  extension_not_offered,    // response names an extension the client did not offer (RFC 6455 §9.1)
  duplicate_extension,      // response accepts permessage-deflate twice (§5)
  missing_server_window,    // offer had server_max_window_bits, response does not (§7.1.2.1)
  missing_server_no_takeover,  // offer had server_no_context_takeover, response does not (§7.1.1.1)
  server_window_too_large,  // response server_max_window_bits above the offered value (§7.1.2.1)
  unrequested_client_window,  // response client_max_window_bits not offered (§7.1.2.2)
  client_window_too_large,    // response client_max_window_bits above the offered value (§7.1.2.2)
};

// One line naming the problem and its RFC clause.
std::string_view describe(deflate_param_error err) noexcept;

// The server's choice.
struct deflate_agreement {
  bool accepted = false;
  deflate_params params;    // when accepted
  std::string response;     // when accepted: the element for Sec-WebSocket-Extensions
  std::size_t offer_index = 0;  // when accepted: index of the accepted offer in `offers`
  // The reason the last permessage-deflate offer was declined (none if none was declined).
  deflate_param_error last_decline = deflate_param_error::none;
};

// Walks `offers` in the client's order and accepts the first permessage-deflate offer the policy
// can honour; offers that are malformed (§7: unknown or duplicate parameter, bad value) or that
// it cannot honour are declined, never failed (RFC 7692 §5). Other extensions are skipped.
// With policy.enabled false nothing is accepted.
deflate_agreement negotiate_deflate(std::span<const extension_offer> offers,
                                    const deflate_policy& policy);

// Checks one offer (whose name must be permessage-deflate) against the policy and, if it can be
// accepted, fills `out` with the parameters the server answers with.
deflate_param_error accept_deflate_offer(const extension_offer& offer, const deflate_policy& policy,
                                         deflate_params& out);

// What a client asks for. Window bits: 0 leaves the parameter out.
struct deflate_client_offer {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = 0;   // 8..15, or 0: not sent
  bool offer_client_max_window_bits = true;  // send client_max_window_bits (we support it)
  std::uint8_t client_max_window_bits = 0;   // 8..15 as its value, or 0: sent without value
};

// The offer's element for Sec-WebSocket-Extensions, e.g. "permessage-deflate; client_max_window_bits".
std::string format_deflate_offer(const deflate_client_offer& offer);

struct deflate_response {
  deflate_param_error error = deflate_param_error::none;  // not none: fail the connection
  bool accepted = false;  // the server agreed to permessage-deflate
  deflate_params params;  // when accepted
};

// Validates a server's Sec-WebSocket-Extensions (already parsed) against what the client offered
// (RFC 7692 §5, §7; RFC 6455 §9.1: a response naming anything not offered fails the connection).
deflate_response validate_deflate_response(std::span<const extension_offer> response,
                                           const deflate_client_offer& offer);

// The compressor and decompressor each side runs for agreed `params`.
deflater_settings server_deflater_settings(const deflate_params& params,
                                           const deflate_policy& policy) noexcept;
inflater_settings server_inflater_settings(const deflate_params& params) noexcept;
deflater_settings client_deflater_settings(const deflate_params& params, std::uint8_t mem_level = 8,
                                           std::uint8_t compression_level = 6) noexcept;
inflater_settings client_inflater_settings(const deflate_params& params) noexcept;

}  // namespace shoal::core
