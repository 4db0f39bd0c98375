// A value the main thread replaces at run time (on SIGHUP) and every shard reads: the current
// immutable T behind a shared_ptr, and a generation that tells a shard, with one atomic load per
// loop pass, that it should fetch the new one. Readers keep their own shared_ptr, so a value
// lives until the last connection using it is done with it. Any thread; get() and publish() lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace shoal::gateway {

template <class T>
class current_value {
 public:
  void publish(std::shared_ptr<const T> next) {
    const std::lock_guard lock(mutex_);
    current_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
  }
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const T> get() const {
    const std::lock_guard lock(mutex_);
    return current_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace shoal::gateway
