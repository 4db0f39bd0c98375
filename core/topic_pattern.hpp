// Topic pattern syntax check: the one function jwt.cpp needs from the topic pattern module.
// STAND-IN on branch `jwt`: replaced at merge by the full core/topic_pattern.hpp (same function,
// same semantics). Pure function; safe from any thread.
#pragma once

#include <cstddef>
#include <string_view>

namespace shoal::core {

// True if `pattern` is 1..max_len bytes of segments separated by '.' or '/', each segment
// non-empty and either "*" (one segment), ">" (the rest; last segment only) or made of
// A-Z a-z 0-9 '_' ':' '-'. No leading or trailing separator.
bool is_valid_topic_pattern(std::string_view pattern, std::size_t max_len) noexcept;

}  // namespace shoal::core
