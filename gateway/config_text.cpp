// The text side of settings for config_fields.hpp: a flag's value (or a TOML string) into a
// field, a field back into text for --help, and validate() turned into messages that say
// where each bad value was set. Pure functions; main thread at start-up.
#include <charconv>
#include <utility>

#include "gateway/config.hpp"
#include "gateway/config_fields.hpp"

namespace shoal::gateway::detail {

using std::chrono::milliseconds;

value_result<std::uint64_t> parse_unsigned(std::string_view text) {
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range) return {std::nullopt, "too large"};
  if (text.empty() || ec != std::errc{} || ptr != end) {
    return {std::nullopt, "must be a non-negative integer"};
  }
  return {v, {}};
}

namespace {
template <class T>
std::string take(value_result<T> parsed, T& out) {
  if (!parsed.value) return std::move(parsed.error);
  out = std::move(*parsed.value);
  return {};
}
}  // namespace

std::string assign_text(std::string_view text, bool& out) {
  if (text == "true" || text == "false") {
    out = text == "true";
    return {};
  }
  return "must be true or false";
}
std::string assign_text(std::string_view text, milliseconds& out) {
  return take(parse_duration(text), out);
}
std::string assign_text(std::string_view text, std::string& out) {
  out = std::string(text);
  return {};
}
std::string assign_text(std::string_view text, io_backend& out) {
  return take(parse_io_backend(text), out);
}
std::string assign_text(std::string_view text, slow_consumer_policy& out) {
  return take(parse_slow_consumer_policy(text), out);
}
std::string assign_text(std::string_view text, log_level& out) {
  return take(parse_log_level(text), out);
}
std::string assign_text(std::string_view text, std::vector<listen_address>& out) {
  listen_address a;
  auto problem = take(parse_listen_address(text), a);
  if (problem.empty()) out.push_back(std::move(a));
  return problem;
}
std::string assign_text(std::string_view text, std::vector<std::string>& out) {
  out.emplace_back(text);
  return {};
}

std::string format_text(bool v) { return v ? "true" : "false"; }
std::string format_text(milliseconds v) { return format_duration(v); }
std::string format_text(const std::string& v) { return v; }
std::string format_text(io_backend v) { return std::string(to_string(v)); }
std::string format_text(slow_consumer_policy v) { return std::string(to_string(v)); }
std::string format_text(log_level v) { return std::string(to_string(v)); }
std::string format_text(const std::vector<listen_address>& v) {
  std::string out;
  for (const auto& a : v) out += (out.empty() ? "" : ", ") + format_listen_address(a);
  return out;
}
std::string format_text(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string check(const config& cfg, const origin_map& origins) {
  std::string out;
  for (const auto& i : validate(cfg)) {
    if (!out.empty()) out += '\n';
    out += "config error: " + i.key + ": " + i.problem;
    if (auto it = origins.find(i.key); it != origins.end()) {
      out += (it->second.starts_with("--") ? " (set by " : " (set at ") + it->second + ")";
    }
  }
  return out;
}

}  // namespace shoal::gateway::detail
