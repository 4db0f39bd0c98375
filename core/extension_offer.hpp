// Sec-WebSocket-Extensions: parsing a client's offers into names and parameters (RFC 6455 §9.1,
// RFC 7692 §5), and formatting the extensions a server accepts for its 101 response.
// Names are views into the parsed header value (valid while it is); parameter values are owned
// strings because a quoted-string is unescaped. The parser checks syntax only: which extensions
// and parameters are acceptable is the negotiating extension's business (e.g. RFC 7692 §7).
// Plain functions and values; safe from any thread on distinct data; never throws.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::core {

struct extension_param {
  std::string_view name;
  std::string value;       // unescaped if it was a quoted-string; empty when !has_value
  bool has_value = false;  // "name=value" rather than a bare "name"
};

struct extension_offer {
  std::string_view name;
  std::vector<extension_param> params;  // in the order sent, duplicates kept

  // The first parameter called `name` (case-insensitive), or nullptr.
  const extension_param* find(std::string_view param_name) const noexcept;
  std::size_t count(std::string_view param_name) const noexcept;
};

enum class extension_error : std::uint8_t {
  none = 0,
  empty_list,            // no extension in the field value (1#extension, RFC 6455 §9.1)
  bad_name,              // extension name is not a token (RFC 6455 §9.1)
  bad_param_name,        // parameter name is not a token (RFC 6455 §9.1)
  bad_param_value,       // parameter value, once unescaped, is not a token (RFC 6455 §9.1)
  bad_quoted_string,     // unterminated quoted-string or bad quoted-pair (RFC 9110 §5.6.4)
  unexpected_character,  // something other than ';' or ',' after an extension or parameter
};

// One line naming the problem and its RFC clause.
std::string_view describe(extension_error err) noexcept;

// Parses one Sec-WebSocket-Extensions field value and appends its offers to `out` (call it for
// each header line: lines combine). Grammar, with optional whitespace around separators:
//   extension-list = 1#( ext-name *( ";" param [ "=" ( token | quoted-string ) ] ) )
// On error `out` holds the offers before the bad one; the handshake is to be refused with 400.
extension_error parse_extension_offers(std::string_view field_value,
                                       std::vector<extension_offer>& out);

// Appends "name; p1; p2=v" to `out` (values that are not tokens are quoted and escaped).
void append_extension(std::string& out, std::string_view name,
                      std::span<const extension_param> params);
// Formats a whole Sec-WebSocket-Extensions value: extensions joined by ", ".
std::string format_extensions(std::span<const extension_offer> extensions);

}  // namespace shoal::core
