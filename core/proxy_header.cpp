// PROXY protocol v1/v2 parsing (see proxy_header.hpp). Address literals are parsed here rather
// than with inet_pton: core stays free of socket headers, and the rules are the spec's.
#include "core/proxy_header.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

namespace shoal::core {

namespace {

constexpr std::uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view v1_prefix = "PROXY ";

proxy_result failed(proxy_error e) noexcept {
  proxy_result r;
  r.status = proxy_status::error;
  r.error = e;
  return r;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Dotted quad, each part 0..255 in decimal with no leading zero (as HAProxy writes it).
bool parse_ipv4(std::string_view s, std::uint8_t* out) noexcept {
  for (int part = 0; part < 4; ++part) {
    std::size_t n = 0;
    unsigned v = 0;
    while (n < s.size() && n < 4 && is_digit(s[n])) v = v * 10 + unsigned(s[n++] - '0');
    if (n == 0 || n > 3 || v > 255 || (n > 1 && s[0] == '0')) return false;
    out[part] = static_cast<std::uint8_t>(v);
    s.remove_prefix(n);
    if (part < 3) {
      if (s.empty() || s[0] != '.') return false;
      s.remove_prefix(1);
    }
  }
  return s.empty();
}

// RFC 4291 §2.2 text forms: eight groups of 1-4 hex digits, at most one "::", and an optional
// dotted quad for the last 32 bits.
bool parse_ipv6(std::string_view s, std::uint8_t* out) noexcept {
  std::uint16_t head[8], tail[8];
  int nh = 0, nt = 0;
  bool gap = false;
  if (s.starts_with("::")) {
    gap = true;
    s.remove_prefix(2);
  } else if (s.starts_with(":")) {
    return false;
  }
  std::uint8_t v4[4];
  bool has_v4 = false;
  while (!s.empty()) {
    const std::size_t end = std::min(s.find(':'), s.size());
    const std::string_view group = s.substr(0, end);
    if (end == s.size() && group.find('.') != std::string_view::npos) {
      if (!parse_ipv4(group, v4)) return false;
      has_v4 = true;
      s = {};
      break;
    }
    if (group.empty() || group.size() > 4) return false;
    unsigned v = 0;
    for (char c : group) {
      const int h = hex_value(c);
      if (h < 0) return false;
      v = v * 16 + unsigned(h);
    }
    if (nh + nt >= 8) return false;
    (gap ? tail[nt++] : head[nh++]) = static_cast<std::uint16_t>(v);
    s.remove_prefix(end);
    if (s.empty()) break;
    s.remove_prefix(1);  // ':'
    if (s.starts_with(":")) {
      if (gap) return false;  // a second "::"
      gap = true;
      s.remove_prefix(1);
    } else if (s.empty()) {
      return false;  // a trailing single ':'
    }
  }
  const int groups = nh + nt + (has_v4 ? 2 : 0);
  if (groups > 8 || (!gap && groups != 8) || (gap && groups == 8)) return false;
  std::uint16_t all[8] = {};
  for (int i = 0; i < nh; ++i) all[i] = head[i];
  const int tail_start = 8 - nt - (has_v4 ? 2 : 0);
  for (int i = 0; i < nt; ++i) all[tail_start + i] = tail[i];
  for (int i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(all[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(all[i]);
  }
  if (has_v4) std::memcpy(out + 12, v4, 4);
  return true;
}

std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + unsigned(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// Splits off the text up to the next single space.
std::string_view field(std::string_view& s) noexcept {
  const std::size_t sp = std::min(s.find(' '), s.size());
  const std::string_view f = s.substr(0, sp);
  s.remove_prefix(sp == s.size() ? sp : sp + 1);
  return f;
}

proxy_result parse_v1(std::string_view text) noexcept {
  const std::size_t window = std::min(text.size(), proxy_v1_max);
  const std::size_t crlf = text.substr(0, window).find("\r\n");
  if (crlf == std::string_view::npos)
    return text.size() >= proxy_v1_max ? failed(proxy_error::v1_too_long) : proxy_result{};
  std::string_view line = text.substr(v1_prefix.size(), crlf - v1_prefix.size());
  proxy_result r;
  r.header.version = 1;
  const std::string_view protocol = field(line);
  if (protocol == "UNKNOWN") {  // the rest of the line is to be ignored (2.1)
    r.status = proxy_status::done;
    r.consumed = crlf + 2;
    return r;
  }
  const bool v4 = protocol == "TCP4";
  if (!v4 && protocol != "TCP6") return failed(proxy_error::v1_bad_protocol);
  r.header.family = v4 ? proxy_family::ipv4 : proxy_family::ipv6;
  const std::string_view src = field(line), dst = field(line), sport = field(line), dport = line;
  if (src.empty() || dst.empty() || sport.empty() || dport.empty() ||
      dport.find(' ') != std::string_view::npos)
    return failed(proxy_error::v1_bad_syntax);
  const auto parse = v4 ? parse_ipv4 : parse_ipv6;
  if (!parse(src, r.header.source.data()) || !parse(dst, r.header.destination.data()))
    return failed(proxy_error::v1_bad_address);
  const auto sp = parse_port(sport), dp = parse_port(dport);
  if (!sp || !dp) return failed(proxy_error::v1_bad_port);
  r.header.source_port = *sp;
  r.header.destination_port = *dp;
  r.status = proxy_status::done;
  r.consumed = crlf + 2;
  return r;
}

proxy_result parse_v2(std::span<const std::uint8_t> b, std::size_t v2_max) noexcept {
  if (b.size() < proxy_v2_fixed) return {};
  const std::uint8_t version = b[12] >> 4, command = b[12] & 0x0F;
  if (version != 2) return failed(proxy_error::v2_bad_version);
  if (command > 1) return failed(proxy_error::v2_bad_command);
  const std::uint8_t family = b[13] >> 4, transport = b[13] & 0x0F;
  if (family > 3 || transport > 2) return failed(proxy_error::v2_bad_family);
  const std::size_t length = std::size_t{b[14]} << 8 | b[15];
  if (proxy_v2_fixed + length > std::max(v2_max, proxy_v2_fixed + 216))
    return failed(proxy_error::v2_too_long);
  const std::size_t needs = family == 1 ? 12 : family == 2 ? 36 : family == 3 ? 216 : 0;
  if (length < needs) return failed(proxy_error::v2_too_short);
  if (b.size() < proxy_v2_fixed + length) return {};
  proxy_result r;
  r.status = proxy_status::done;
  r.consumed = proxy_v2_fixed + length;
  r.header.version = 2;
  r.header.local = command == 0;
  // LOCAL, UNSPEC, UNIX sockets and datagrams: nothing to take from the header (2.2).
  if (r.header.local || transport != 1 || (family != 1 && family != 2)) return r;
  const std::uint8_t* a = b.data() + proxy_v2_fixed;
  const std::size_t len = family == 1 ? 4 : 16;
  r.header.family = family == 1 ? proxy_family::ipv4 : proxy_family::ipv6;
  std::memcpy(r.header.source.data(), a, len);
  std::memcpy(r.header.destination.data(), a + len, len);
  r.header.source_port = static_cast<std::uint16_t>(a[2 * len] << 8 | a[2 * len + 1]);
  r.header.destination_port = static_cast<std::uint16_t>(a[2 * len + 2] << 8 | a[2 * len + 3]);
  return r;
}

}  // namespace

proxy_result parse_proxy_header(std::span<const std::uint8_t> bytes, std::size_t v2_max) noexcept {
  if (bytes.empty()) return {};
  if (bytes[0] == v2_signature[0]) {
    const std::size_t n = std::min(bytes.size(), sizeof v2_signature);
    if (std::memcmp(bytes.data(), v2_signature, n) != 0) return failed(proxy_error::not_proxy);
    return parse_v2(bytes, v2_max);
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const std::size_t n = std::min(text.size(), v1_prefix.size());
  if (text.substr(0, n) != v1_prefix.substr(0, n)) return failed(proxy_error::not_proxy);
  if (text.size() < v1_prefix.size()) return {};
  return parse_v1(text);
}

std::string_view describe(proxy_error err) noexcept {
  switch (err) {
    case proxy_error::none: return "no error";
    case proxy_error::not_proxy: return "no PROXY protocol header where one is required (proxy-protocol.txt 2)";
    case proxy_error::v1_too_long: return "PROXY v1 line without CRLF within 107 bytes (proxy-protocol.txt 2.1)";
    case proxy_error::v1_bad_protocol: return "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN (proxy-protocol.txt 2.1)";
    case proxy_error::v1_bad_address: return "PROXY v1 address is not a literal of its family (proxy-protocol.txt 2.1)";
    case proxy_error::v1_bad_port: return "PROXY v1 port is not 0..65535 without leading zeros (proxy-protocol.txt 2.1)";
    case proxy_error::v1_bad_syntax: return "PROXY v1 line has missing, extra or badly spaced fields (proxy-protocol.txt 2.1)";
    case proxy_error::v2_bad_version: return "PROXY v2 version is not 2 (proxy-protocol.txt 2.2)";
    case proxy_error::v2_bad_command: return "PROXY v2 command is not LOCAL or PROXY (proxy-protocol.txt 2.2)";
    case proxy_error::v2_bad_family: return "PROXY v2 address family or transport is undefined (proxy-protocol.txt 2.2)";
    case proxy_error::v2_too_short: return "PROXY v2 length is too short for its address family (proxy-protocol.txt 2.2)";
    case proxy_error::v2_too_long: return "PROXY v2 header is longer than this server accepts";
  }
  return "unknown PROXY protocol error";
}

}  // namespace shoal::core
