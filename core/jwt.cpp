// verify_jwt and the jwt_error tables: splitting and base64url-decoding a JWS compact token
// (RFC 7515 §7.1), reading its header, choosing the key, then reading the claims (RFC 7519 §7.2)
// only after the signature verifies. JSON goes through simdjson's DOM parser with error codes
// (nothing here throws on input). Pure functions; safe from any thread.
#include "core/jwt.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/topic_pattern.hpp"

namespace shoal::core {
namespace {

// Longest topic pattern a token may grant.
constexpr std::size_t max_pattern_bytes = 200;

struct error_info {
  jwt_error error;
  std::string_view name;
  std::string_view reason;
};

constexpr std::array error_table{
    error_info{jwt_error::none, "none", "no error"},
    error_info{jwt_error::too_large, "too_large", "token longer than the configured limit"},
    error_info{jwt_error::malformed, "malformed",
               "RFC 7515 7.1: token is not three dot-separated parts"},
    error_info{jwt_error::bad_base64, "bad_base64",
               "RFC 7515 2: token part is not unpadded base64url"},
    error_info{jwt_error::bad_header, "bad_header",
               "RFC 7515 4: header is not a JSON object with a string alg, typ JWT and no crit"},
    error_info{jwt_error::bad_claims, "bad_claims",
               "RFC 7519 4.1: claims are not a JSON object or a registered claim has the wrong type"},
    error_info{jwt_error::alg_none, "alg_none", "RFC 7518 3.6: unsecured token (alg none) refused"},
    error_info{jwt_error::alg_unsupported, "alg_unsupported", "token alg is not supported"},
    error_info{jwt_error::alg_not_allowed, "alg_not_allowed",
               "RFC 8725 3.1: token alg does not match the type of its key"},
    error_info{jwt_error::unknown_kid, "unknown_kid", "token kid names no configured key"},
    error_info{jwt_error::no_key, "no_key", "no configured key can verify the token alg"},
    error_info{jwt_error::bad_signature, "bad_signature", "token signature does not verify"},
    error_info{jwt_error::expired, "expired", "RFC 7519 4.1.4: token has expired"},
    error_info{jwt_error::not_yet_valid, "not_yet_valid",
               "RFC 7519 4.1.5: token is not valid yet (nbf)"},
    error_info{jwt_error::missing_exp, "missing_exp", "token has no exp claim"},
    error_info{jwt_error::wrong_issuer, "wrong_issuer",
               "RFC 7519 4.1.1: token issuer is missing or not the configured one"},
    error_info{jwt_error::wrong_audience, "wrong_audience",
               "RFC 7519 4.1.3: token audience is missing or names none of ours"},
    error_info{jwt_error::bad_permissions, "bad_permissions",
               "shoal claim is not {\"sub\":[patterns],\"pub\":[patterns]} of valid topic patterns"},
};

constexpr bool table_is_complete() {
  for (std::size_t i = 0; i < error_table.size(); ++i) {
    if (static_cast<std::size_t>(error_table[i].error) != i) return false;
    if (error_table[i].name.empty() || error_table[i].reason.empty()) return false;
  }
  return static_cast<std::size_t>(jwt_error::bad_permissions) + 1 == error_table.size();
}
static_assert(table_is_complete(), "error_table: one row per jwt_error, in order, no empty text");

struct alg_name {
  jwt_alg alg;
  std::string_view name;
};

// RFC 7515 §4.1.1: alg values are case-sensitive.
constexpr std::array alg_names{
    alg_name{jwt_alg::hs256, "HS256"}, alg_name{jwt_alg::hs384, "HS384"},
    alg_name{jwt_alg::hs512, "HS512"}, alg_name{jwt_alg::rs256, "RS256"},
    alg_name{jwt_alg::rs384, "RS384"}, alg_name{jwt_alg::rs512, "RS512"},
    alg_name{jwt_alg::es256, "ES256"}, alg_name{jwt_alg::es384, "ES384"},
    alg_name{jwt_alg::eddsa, "EdDSA"},
};

char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// base64url alphabet (RFC 4648 §5) to 6-bit values; -1 for everything else, '=' included.
constexpr std::array<std::int8_t, 256> base64url_table = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 26; ++i) {
    t[static_cast<std::size_t>('A' + i)] = static_cast<std::int8_t>(i);
    t[static_cast<std::size_t>('a' + i)] = static_cast<std::int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t[static_cast<std::size_t>('0' + i)] = static_cast<std::int8_t>(52 + i);
  t[static_cast<std::size_t>('-')] = 62;
  t[static_cast<std::size_t>('_')] = 63;
  return t;
}();

std::int8_t base64url_value(char c) noexcept {
  return base64url_table[static_cast<unsigned char>(c)];
}

// Unpadded base64url with canonical trailing bits (RFC 7515 §2, RFC 4648 §3.5): a length of 1
// mod 4 or nonzero unused bits in the last character is an error, so each byte string has one
// encoding. Checks only; decoding cannot fail after this.
bool is_base64url(std::string_view in) noexcept {
  if (in.size() % 4 == 1) return false;
  for (const char c : in) {
    if (base64url_value(c) < 0) return false;
  }
  const std::size_t tail = in.size() % 4;
  if (tail == 0) return true;
  const auto last = static_cast<unsigned>(base64url_value(in.back()));
  return tail == 2 ? (last & 0x0F) == 0 : (last & 0x03) == 0;
}

// Decodes a part that passed is_base64url, leaving `extra` zero bytes of room past the end
// (simdjson reads up to SIMDJSON_PADDING bytes past a document). Returns the decoded length.
std::size_t decode_base64url(std::string_view in, std::string& out, std::size_t extra) {
  out.assign(in.size() / 4 * 3 + 3 + extra, '\0');
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = (acc << 6) | static_cast<std::uint32_t>(base64url_value(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return n;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  }
  return sum;
}

// RFC 7519 §2 NumericDate: a JSON number, possibly non-integer; floored and clamped to int64.
std::optional<std::int64_t> numeric_date(simdjson::dom::element value) noexcept {
  switch (value.type()) {
    case simdjson::dom::element_type::INT64: {
      std::int64_t v = 0;
      if (value.get_int64().get(v) != simdjson::SUCCESS) return std::nullopt;
      return v;
    }
    case simdjson::dom::element_type::UINT64: return std::numeric_limits<std::int64_t>::max();
    case simdjson::dom::element_type::DOUBLE: {
      double d = 0;
      if (value.get_double().get(d) != simdjson::SUCCESS) return std::nullopt;
      d = std::floor(d);
      if (!(d < 9.2e18)) return std::numeric_limits<std::int64_t>::max();
      if (!(d > -9.2e18)) return std::numeric_limits<std::int64_t>::min();
      return static_cast<std::int64_t>(d);
    }
    default: return std::nullopt;
  }
}

struct jwt_header {
  jwt_alg alg = jwt_alg::hs256;
  bool has_kid = false;
  std::string kid;
};

// RFC 7515 §4.1. Duplicate names among those we read are refused (RFC 7515 §4: reject, or take
// the last; simdjson's lookup would take the first).
jwt_error read_header(simdjson::dom::element doc, jwt_header& out) {
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return jwt_error::bad_header;
  std::optional<std::string_view> alg;
  std::optional<std::string_view> kid;
  bool has_typ = false;
  for (const simdjson::dom::key_value_pair field : object) {
    if (field.key == "crit") return jwt_error::bad_header;  // RFC 7515 §4.1.11: we know no extension
    if (field.key == "alg" || field.key == "kid") {
      auto& slot = field.key == "alg" ? alg : kid;
      std::string_view text;
      if (slot || field.value.get_string().get(text) != simdjson::SUCCESS) return jwt_error::bad_header;
      slot = text;
    } else if (field.key == "typ") {
      std::string_view typ;
      if (has_typ || field.value.get_string().get(typ) != simdjson::SUCCESS || !iequals(typ, "JWT")) {
        return jwt_error::bad_header;
      }
      has_typ = true;
    }
  }
  if (!alg) return jwt_error::bad_header;
  if (iequals(*alg, "none")) return jwt_error::alg_none;
  const auto* known = std::find_if(alg_names.begin(), alg_names.end(),
                                   [&](const alg_name& a) { return a.name == *alg; });
  if (known == alg_names.end()) return jwt_error::alg_unsupported;
  out.alg = known->alg;
  out.has_kid = kid && !kid->empty();  // "kid":"" selects nothing: treated as absent
  if (out.has_kid) out.kid.assign(*kid);
  return jwt_error::none;
}

// The "shoal" claim: {"sub":[pattern...],"pub":[pattern...]}, both optional. Unknown members are
// refused rather than ignored, so a misspelt permission cannot pass silently.
jwt_error read_permissions(simdjson::dom::element value, jwt_claims& out) {
  simdjson::dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) return jwt_error::bad_permissions;
  bool seen_sub = false;
  bool seen_pub = false;
  for (const simdjson::dom::key_value_pair field : object) {
    const bool is_sub = field.key == "sub";
    if (!is_sub && field.key != "pub") return jwt_error::bad_permissions;
    bool& seen = is_sub ? seen_sub : seen_pub;
    if (seen) return jwt_error::bad_permissions;
    seen = true;
    simdjson::dom::array patterns;
    if (field.value.get_array().get(patterns) != simdjson::SUCCESS) return jwt_error::bad_permissions;
    auto& into = is_sub ? out.sub_patterns : out.pub_patterns;
    for (const simdjson::dom::element entry : patterns) {
      std::string_view pattern;
      if (entry.get_string().get(pattern) != simdjson::SUCCESS ||
          !is_valid_topic_pattern(pattern, max_pattern_bytes)) {
        return jwt_error::bad_permissions;
      }
      into.emplace_back(pattern);
    }
  }
  return jwt_error::none;
}

bool audience_matches(std::string_view aud, const std::vector<std::string>& wanted) noexcept {
  return std::find(wanted.begin(), wanted.end(), aud) != wanted.end();
}

// RFC 7519 §4.1 and §7.2 step 10: the registered claims we use, type-checked, then the rules.
jwt_error read_claims(simdjson::dom::element doc, const jwt_rules& rules, std::int64_t now,
                      jwt_claims& out) {
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return jwt_error::bad_claims;
  std::optional<std::int64_t> exp;
  std::optional<std::int64_t> nbf;
  std::optional<std::int64_t> iat;
  std::optional<std::string_view> iss;
  std::optional<std::string_view> sub;
  std::optional<simdjson::dom::element> aud;
  std::optional<simdjson::dom::element> shoal;
  for (const simdjson::dom::key_value_pair field : object) {
    const std::string_view name = field.key;
    if (name == "exp" || name == "nbf" || name == "iat") {
      auto& slot = name == "exp" ? exp : name == "nbf" ? nbf : iat;
      if (slot) return jwt_error::bad_claims;
      slot = numeric_date(field.value);
      if (!slot) return jwt_error::bad_claims;
    } else if (name == "iss" || name == "sub") {
      auto& slot = name == "iss" ? iss : sub;
      std::string_view text;
      if (slot || field.value.get_string().get(text) != simdjson::SUCCESS) return jwt_error::bad_claims;
      slot = text;
    } else if (name == "aud") {
      if (aud) return jwt_error::bad_claims;
      if (!field.value.is_string()) {  // RFC 7519 §4.1.3: a string or an array of strings
        simdjson::dom::array list;
        if (field.value.get_array().get(list) != simdjson::SUCCESS) return jwt_error::bad_claims;
        for (const simdjson::dom::element entry : list) {
          if (!entry.is_string()) return jwt_error::bad_claims;
        }
      }
      aud = field.value;
    } else if (name == "shoal") {
      if (shoal) return jwt_error::bad_permissions;
      shoal = field.value;
    }
  }

  const std::int64_t leeway = std::max<std::int64_t>(rules.leeway_seconds, 0);
  if (!exp && rules.require_exp) return jwt_error::missing_exp;
  // RFC 7519 §4.1.4: not accepted "on or after" exp.
  if (exp && now >= saturating_add(*exp, leeway)) return jwt_error::expired;
  if (nbf && saturating_add(now, leeway) < *nbf) return jwt_error::not_yet_valid;
  if (!rules.issuer.empty() && (!iss || *iss != rules.issuer)) return jwt_error::wrong_issuer;
  if (!rules.audience.empty()) {
    bool matched = false;
    if (aud) {
      std::string_view single;
      if (aud->get_string().get(single) == simdjson::SUCCESS) {
        matched = audience_matches(single, rules.audience);
      } else {
        simdjson::dom::array list;
        if (aud->get_array().get(list) == simdjson::SUCCESS) {
          for (const simdjson::dom::element entry : list) {
            std::string_view one;
            if (entry.get_string().get(one) == simdjson::SUCCESS &&
                audience_matches(one, rules.audience)) {
              matched = true;
              break;
            }
          }
        }
      }
    }
    if (!matched) return jwt_error::wrong_audience;
  }
  if (shoal) {
    const jwt_error err = read_permissions(*shoal, out);
    if (err != jwt_error::none) return err;
  }
  if (sub) out.subject.assign(*sub);
  out.expires_at = exp.value_or(0);
  return jwt_error::none;
}

// Decodes a JSON part into `buffer` (with simdjson's padding) and parses it.
simdjson::error_code parse_part(simdjson::dom::parser& parser, std::string_view part,
                                std::string& buffer, simdjson::dom::element& doc) {
  const std::size_t len = decode_base64url(part, buffer, simdjson::SIMDJSON_PADDING);
  return parser.parse(buffer.data(), len, false).get(doc);
}

}  // namespace

std::string_view to_string(jwt_error err) noexcept {
  const auto i = static_cast<std::size_t>(err);
  return i < error_table.size() ? error_table[i].name : std::string_view("unknown");
}

std::string_view describe(jwt_error err) noexcept {
  const auto i = static_cast<std::size_t>(err);
  return i < error_table.size() ? error_table[i].reason : std::string_view("unknown JWT error");
}

std::string_view to_string(jwt_alg alg) noexcept {
  for (const alg_name& a : alg_names) {
    if (a.alg == alg) return a.name;
  }
  return "unknown";
}

jwt_error verify_jwt(std::string_view token, const jwt_key_set& keys, const jwt_rules& rules,
                     std::int64_t now_unix, jwt_claims& out) {
  out = jwt_claims{};
  if (token.size() > rules.max_token_bytes) return jwt_error::too_large;

  // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return jwt_error::malformed;
  }
  const std::string_view header_part = token.substr(0, dot1);
  const std::string_view payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_part = token.substr(dot2 + 1);
  if (!is_base64url(header_part) || !is_base64url(payload_part) || !is_base64url(signature_part)) {
    return jwt_error::bad_base64;
  }

  simdjson::dom::parser parser;
  std::string buffer;
  simdjson::dom::element doc;
  if (parse_part(parser, header_part, buffer, doc) != simdjson::SUCCESS) return jwt_error::bad_header;
  jwt_header header;
  if (const jwt_error err = read_header(doc, header); err != jwt_error::none) return err;

  // RFC 8725 §3.1: the key decides which algs are acceptable, never the token alone.
  const jwt_key_set::key* chosen = nullptr;
  if (header.has_kid) {
    for (const auto& k : keys.keys_) {
      if (k.kid == header.kid) chosen = &k;
    }
    if (chosen == nullptr) return jwt_error::unknown_kid;
    if (!jwt_key_set::allows(chosen->kind, header.alg)) return jwt_error::alg_not_allowed;
  } else {
    const bool any = std::any_of(keys.keys_.begin(), keys.keys_.end(), [&](const auto& k) {
      return jwt_key_set::allows(k.kind, header.alg);
    });
    if (!any) return jwt_error::no_key;
  }

  std::string signature;
  signature.resize(decode_base64url(signature_part, signature, 0));
  const std::string_view signing_input = token.substr(0, dot2);
  bool verified = false;
  if (chosen != nullptr) {
    verified = jwt_key_set::signature_verifies(*chosen, header.alg, signing_input, signature);
  } else {
    for (const auto& k : keys.keys_) {
      if (jwt_key_set::allows(k.kind, header.alg) &&
          jwt_key_set::signature_verifies(k, header.alg, signing_input, signature)) {
        verified = true;
        break;
      }
    }
  }
  if (!verified) return jwt_error::bad_signature;

  // RFC 7519 §7.2 step 10: only now are the claims read.
  if (parse_part(parser, payload_part, buffer, doc) != simdjson::SUCCESS) return jwt_error::bad_claims;
  jwt_claims claims;
  const jwt_error err = read_claims(doc, rules, now_unix, claims);
  if (err == jwt_error::none) out = std::move(claims);
  return err;
}

std::string base64url_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

}  // namespace shoal::core
