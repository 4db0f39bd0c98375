// A small scanner for the flat server messages of shoal.v1 ({"op":"msg","topic":"t","seq":N,...}):
// finds a member by name and reads a string (without escapes) or an unsigned integer value. Not
// a JSON parser: it trusts the server's compact encoding. Pure functions; any thread.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shoal::loadgen {

// Position just after `"name":` at or after `from`, or npos.
inline std::size_t json_find_member(std::string_view json, std::string_view name, std::size_t from = 0) {
  for (std::size_t pos = json.find(name, from); pos != std::string_view::npos;
       pos = json.find(name, pos + 1)) {
    const std::size_t end = pos + name.size();
    if (pos > 0 && json[pos - 1] == '"' && end + 1 < json.size() && json[end] == '"' &&
        json[end + 1] == ':')
      return end + 2;
  }
  return std::string_view::npos;
}

inline std::optional<std::string_view> json_string_member(std::string_view json, std::string_view name,
                                                          std::size_t from = 0) {
  const std::size_t at = json_find_member(json, name, from);
  if (at == std::string_view::npos || at >= json.size() || json[at] != '"') return std::nullopt;
  const std::size_t close = json.find('"', at + 1);
  if (close == std::string_view::npos) return std::nullopt;
  return json.substr(at + 1, close - at - 1);
}

inline std::optional<std::uint64_t> json_uint_member(std::string_view json, std::string_view name,
                                                     std::size_t from = 0) {
  const std::size_t at = json_find_member(json, name, from);
  if (at == std::string_view::npos) return std::nullopt;
  std::uint64_t v = 0;
  const auto res = std::from_chars(json.data() + at, json.data() + json.size(), v);
  if (res.ec != std::errc{}) return std::nullopt;
  return v;
}

}  // namespace shoal::loadgen
