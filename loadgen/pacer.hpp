// The clock and the open-loop schedule. now_ns() is CLOCK_MONOTONIC in ns, the timestamp every
// message carries. A pacer hands out the *intended* send times of a fixed-rate schedule, so a
// sender that was held up still stamps each message with the time it should have left: latency
// measured from there includes the stall (coordinated-omission correction). One pacer per thread.
#pragma once

#include <cstdint>
#include <ctime>

namespace shoal::loadgen {

inline std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class pacer {
 public:
  pacer() = default;
  // Message i is due at start_ns + i * 1e9 / rate (rate > 0, messages per second).
  pacer(std::int64_t start_ns, double rate) noexcept
      : start_ns_(start_ns), interval_ns_(1e9 / rate) {}

  // The intended send time of the next message.
  std::int64_t next_due() const noexcept {
    return start_ns_ + static_cast<std::int64_t>(static_cast<double>(issued_) * interval_ns_);
  }
  // True if the next message is due at `now`.
  bool due(std::int64_t now) const noexcept { return next_due() <= now; }
  // Takes the next message: returns its intended send time and advances the schedule.
  std::int64_t take() noexcept {
    const std::int64_t t = next_due();
    ++issued_;
    return t;
  }
  std::uint64_t issued() const noexcept { return issued_; }

 private:
  std::int64_t start_ns_ = 0;
  double interval_ns_ = 0;
  std::uint64_t issued_ = 0;
};

}  // namespace shoal::loadgen
