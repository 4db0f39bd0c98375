// A token bucket in exact integer arithmetic: tokens are counted in milli-tokens, so a rate of
// `r` per second adds exactly `r` milli-tokens per elapsed millisecond and no remainder is lost.
// Plain value type without a clock (the caller passes now_ms); one owner thread at a time, or
// guarded by its owner's mutex. Invariant: level_ <= burst_ * 1000; time never moves back.
#pragma once

#include <cstdint>

namespace shoal::core {

class token_bucket {
 public:
  token_bucket() = default;  // unlimited

  // `rate_per_second` 0 means unlimited; `burst` 0 means one second's worth (= rate). The
  // bucket starts full.
  token_bucket(std::uint32_t rate_per_second, std::uint32_t burst) noexcept {
    reconfigure(rate_per_second, burst);
  }

  bool unlimited() const noexcept { return rate_ == 0; }
  std::uint32_t rate() const noexcept { return rate_; }
  std::uint32_t burst() const noexcept { return burst_; }

  // Refills for the time since the last call (nothing if the clock stepped back: it refills
  // again once it passes its previous reading), then takes `cost` tokens if there are that
  // many. A cost over the burst can never be covered: it is allowed once from a full bucket,
  // which it empties, so that a message bigger than the byte burst is not refused forever.
  bool take(std::uint64_t now_ms, std::uint32_t cost = 1) noexcept {
    if (unlimited()) return true;
    refill(now_ms);
    const std::uint64_t need = std::uint64_t{cost} * 1000;
    if (level_ >= need) {
      level_ -= need;
      return true;
    }
    if (cost > burst_ && level_ == capacity()) {
      level_ = 0;
      return true;
    }
    return false;
  }

  // True if the bucket was full after the last take (always when unlimited).
  bool full() const noexcept { return unlimited() || level_ == capacity(); }

  // True if the bucket is full at `now_ms` (always when unlimited); does not change it.
  bool full_at(std::uint64_t now_ms) const noexcept {
    if (full()) return true;
    const std::uint64_t missing = capacity() - level_;
    if (now_ms <= last_ms_) return false;
    return now_ms - last_ms_ >= (missing + rate_ - 1) / rate_;
  }

  // New limits, keeping the tokens there are (capped at the new burst); a bucket that was
  // unlimited starts full.
  void reconfigure(std::uint32_t rate_per_second, std::uint32_t burst) noexcept {
    const bool was_unlimited = unlimited();
    rate_ = rate_per_second;
    burst_ = burst != 0 ? burst : rate_per_second;
    if (was_unlimited || level_ > capacity()) level_ = capacity();
  }

 private:
  std::uint64_t capacity() const noexcept { return std::uint64_t{burst_} * 1000; }

  void refill(std::uint64_t now_ms) noexcept {
    if (now_ms <= last_ms_) return;
    const std::uint64_t elapsed = now_ms - last_ms_;
    last_ms_ = now_ms;
    const std::uint64_t missing = capacity() - level_;
    // elapsed * rate_ could overflow; past missing / rate_ ms the bucket is full anyway.
    if (elapsed > missing / rate_) {
      level_ = capacity();
    } else {
      level_ += elapsed * rate_;
    }
  }

  std::uint64_t level_ = 0;    // milli-tokens
  std::uint64_t last_ms_ = 0;  // the latest now_ms seen
  std::uint32_t rate_ = 0;     // tokens per second; 0 = unlimited
  std::uint32_t burst_ = 0;    // tokens
};

// Two 64-bit words for the exact level and the clock, two 32-bit words for the limits: 16 bytes
// are not enough for a level up to 2^32 * 1000 and a 64-bit clock without losing exactness.
static_assert(sizeof(token_bucket) == 24);

}  // namespace shoal::core
