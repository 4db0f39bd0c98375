// Topic pattern validation and matching, and topic_permissions (see topic_pattern.hpp). Matching
// walks pattern and topic segment by segment with indices into the caller's views: no copies, no
// allocation. topic_permissions is mutated only while being built, on one thread.
#include "core/topic_pattern.hpp"

#include <algorithm>
#include <array>

namespace shoal::core {
namespace {

constexpr bool is_separator(char c) noexcept { return c == '.' || c == '/'; }

// Bytes of a literal pattern segment: the topic alphabet without the separators.
constexpr std::array<bool, 256> segment_bytes = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  t['_'] = t[':'] = t['-'] = true;
  return t;
}();

// The end of the segment starting at `i`: the next separator or the end of `s`.
std::size_t segment_end(std::string_view s, std::size_t i) noexcept {
  while (i < s.size() && !is_separator(s[i])) ++i;
  return i;
}

bool has_wildcard(std::string_view pattern) noexcept {
  return pattern.find_first_of("*>") != std::string_view::npos;
}

}  // namespace

bool is_valid_topic_pattern(std::string_view pattern, std::size_t max_len) noexcept {
  if (pattern.empty() || pattern.size() > max_len) return false;
  for (std::size_t i = 0;;) {
    const std::size_t end = segment_end(pattern, i);
    const std::string_view segment = pattern.substr(i, end - i);
    if (segment.empty()) return false;  // leading, trailing or doubled separator
    if (segment == ">") {
      if (end != pattern.size()) return false;  // `>` only as the last segment
    } else if (segment != "*") {
      for (char c : segment) {
        if (!segment_bytes[static_cast<unsigned char>(c)]) return false;
      }
    }
    if (end == pattern.size()) return true;
    i = end + 1;
  }
}

bool topic_matches(std::string_view pattern, std::string_view topic) noexcept {
  // One pass over both, byte by byte: checked on every publish, so no segment views. A literal
  // byte (separators included, so '.' never matches '/') must be equal; `*` and `>` are
  // wildcards only as whole segments (elsewhere they are literal bytes, which no valid topic
  // holds).
  if (pattern.empty()) return false;
  const std::size_t pn = pattern.size(), tn = topic.size();
  std::size_t p = 0, t = 0;
  while (p < pn) {
    const char c = pattern[p];
    if ((c == '*' || c == '>') && (p == 0 || is_separator(pattern[p - 1])) &&
        (p + 1 == pn || is_separator(pattern[p + 1]))) [[unlikely]] {
      if (c == '>') {
        if (p + 1 == pn) return t < tn;  // one or more trailing segments
      } else {                           // exactly one non-empty segment
        if (t == tn || is_separator(topic[t])) return false;
        while (t < tn && !is_separator(topic[t])) ++t;
        ++p;
        continue;
      }
    }
    if (t == tn || topic[t] != c) return false;
    ++p;
    ++t;
  }
  return t == tn;
}

// ---- topic_permissions ----------------------------------------------------------------------

void topic_permissions::pattern_set::add(std::string pattern) {
  if (has_wildcard(pattern)) {
    if (std::find(wildcard.begin(), wildcard.end(), pattern) != wildcard.end()) return;
    wildcard.push_back(pattern);
  } else {
    auto it = std::lower_bound(exact.begin(), exact.end(), pattern);
    if (it != exact.end() && *it == pattern) return;
    exact.insert(it, pattern);
  }
  all.push_back(std::move(pattern));
}

bool topic_permissions::pattern_set::matches(std::string_view topic) const noexcept {
  auto it = std::lower_bound(exact.begin(), exact.end(), topic,
                             [](const std::string& a, std::string_view b) { return a < b; });
  if (it != exact.end() && *it == topic) return true;
  for (const std::string& pattern : wildcard) {
    if (topic_matches(pattern, topic)) return true;
  }
  return false;
}

topic_permissions topic_permissions::allow_all() {
  topic_permissions p;
  p.allow_all_ = true;
  return p;
}

void topic_permissions::add_subscribe(std::string pattern) { subscribe_.add(std::move(pattern)); }

void topic_permissions::add_publish(std::string pattern) { publish_.add(std::move(pattern)); }

bool topic_permissions::may_subscribe(std::string_view topic) const noexcept {
  return allow_all_ || subscribe_.matches(topic);
}

bool topic_permissions::may_publish(std::string_view topic) const noexcept {
  return allow_all_ || publish_.matches(topic);
}

bool topic_permissions::empty() const noexcept {
  return !allow_all_ && subscribe_.all.empty() && publish_.all.empty();
}

}  // namespace shoal::core
