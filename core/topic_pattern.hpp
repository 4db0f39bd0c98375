// Topic patterns (NATS-style `*` and `>` wildcards) and the per-identity subscribe/publish
// permissions built from them. Sans-I/O and allocation-free when matching. A topic_permissions
// is filled once (add_*) on one thread, then frozen and shared read-only between shard threads
// through a shared_ptr<const topic_permissions>; its const members are safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::core {

// True if `pattern` is 1..max_len bytes of segments separated by '.' or '/', with no leading,
// trailing or doubled separator, each segment exactly "*", exactly ">" (last segment only), or
// one or more of A-Z a-z 0-9 `_` `:` `-`. A wildcard is a whole segment: "pri*" is invalid.
bool is_valid_topic_pattern(std::string_view pattern, std::size_t max_len) noexcept;

// NATS semantics: `*` matches exactly one segment, a final `>` one or more trailing segments, any
// other segment itself. Separators must be the same character at the same place ("a.*" does not
// match "a/b"). Defined for any input; an invalid pattern simply matches no valid topic it
// cannot literally equal.
bool topic_matches(std::string_view pattern, std::string_view topic) noexcept;

// What one identity may subscribe to and publish on. Patterns without wildcards are kept in a
// sorted vector (binary search, no allocation per check); wildcard patterns are scanned after.
// Callers validate patterns with is_valid_topic_pattern() before adding them.
class topic_permissions {
 public:
  topic_permissions() = default;  // allows nothing

  // Allows every topic for both operations; holds no patterns.
  static topic_permissions allow_all();

  void add_subscribe(std::string pattern);
  void add_publish(std::string pattern);

  bool may_subscribe(std::string_view topic) const noexcept;
  bool may_publish(std::string_view topic) const noexcept;

  bool allows_all() const noexcept { return allow_all_; }
  // No pattern at all and not allow_all: the identity may do nothing.
  bool empty() const noexcept;

  // The patterns as added (order kept, duplicates dropped).
  const std::vector<std::string>& subscribe_patterns() const noexcept { return subscribe_.all; }
  const std::vector<std::string>& publish_patterns() const noexcept { return publish_.all; }

 private:
  struct pattern_set {
    std::vector<std::string> all;       // as added
    std::vector<std::string> exact;     // sorted, no wildcard segment
    std::vector<std::string> wildcard;  // scanned with topic_matches()

    void add(std::string pattern);
    bool matches(std::string_view topic) const noexcept;
  };

  bool allow_all_ = false;
  pattern_set subscribe_;
  pattern_set publish_;
};

}  // namespace shoal::core
