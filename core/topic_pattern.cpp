// Topic pattern syntax check (see topic_pattern.hpp).
// STAND-IN on branch `jwt`: replaced at merge by the full core/topic_pattern.cpp.
// Pure function; safe from any thread.
#include "core/topic_pattern.hpp"

namespace shoal::core {
namespace {

bool is_separator(char c) noexcept { return c == '.' || c == '/'; }

bool is_literal_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':' || c == '-';
}

}  // namespace

bool is_valid_topic_pattern(std::string_view pattern, std::size_t max_len) noexcept {
  if (pattern.empty() || pattern.size() > max_len) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t end = start;
    while (end < pattern.size() && !is_separator(pattern[end])) ++end;
    const std::string_view segment = pattern.substr(start, end - start);
    const bool last = end == pattern.size();
    if (segment.empty()) return false;  // leading, trailing or doubled separator
    if (segment == ">") {
      if (!last) return false;
    } else if (segment != "*") {
      for (const char c : segment) {
        if (!is_literal_char(c)) return false;
      }
    }
    if (last) return true;
    start = end + 1;
  }
}

}  // namespace shoal::core
