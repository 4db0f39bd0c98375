// A hashed timer wheel with intrusive nodes (after h2o's timerwheel): O(1) schedule and cancel,
// and an advance that visits only the slots that came due. Connections are each `timed` (a base
// holding one node) and keep one deadline (the earliest of their timeouts), re-checked lazily
// when it fires, so traffic never touches the wheel. Owned by one shard; not thread-safe.
#pragma once

#include <array>
#include <cstdint>

namespace shoal::gateway {

struct timer_node {
  timer_node* prev = nullptr;
  timer_node* next = nullptr;
  std::uint64_t due = 0;  // tick at which the node fires
  bool linked() const noexcept { return prev != nullptr; }
};

// A base for what a wheel times: the expiry callback gets the object back from its node (of(),
// then a static_cast to the derived type) instead of every node storing a pointer back. The
// node is the first member of a standard-layout class, so the two addresses are the same object's.
struct timed {
  timer_node wheel_node;
  static timed& of(timer_node& node) noexcept { return *reinterpret_cast<timed*>(&node); }
};

class timer_wheel {
 public:
  static constexpr std::size_t slots = 4096;  // power of two

  timer_wheel() noexcept;
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  // Schedules `node` (unlinking it first if needed) to fire at tick `due` (clamped to the
  // current tick, so it fires on the next advance).
  void schedule(timer_node& node, std::uint64_t due) noexcept;
  static void cancel(timer_node& node) noexcept;

  // Moves time to `now` and calls on_due(node) for every node whose tick came; the node is
  // unlinked before the call, and the callback may schedule it again.
  template <class OnDue>
  void advance(std::uint64_t now, OnDue&& on_due) {
    // Visit at most one full turn of slots; farther nodes stay in their slot for a later turn.
    const std::uint64_t last = (now - now_ >= slots) ? now_ + slots - 1 : now;
    for (std::uint64_t t = now_; t <= last; ++t) {
      timer_node& head = slot_[t & (slots - 1)];
      timer_node* n = head.next;
      while (n != &head) {
        timer_node* next = n->next;
        if (n->due <= now) {
          cancel(*n);
          on_due(*n);
        }
        n = next;
      }
    }
    now_ = now;
  }

  std::uint64_t now() const noexcept { return now_; }

 private:
  std::array<timer_node, slots> slot_;  // list heads (sentinels)
  std::uint64_t now_ = 0;
};

}  // namespace shoal::gateway
