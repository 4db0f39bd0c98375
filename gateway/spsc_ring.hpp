// spsc_ring: a bounded single-producer single-consumer ring of movable T (after Seastar's and
// rigtorp's SPSC queues). Exactly one producer thread calls try_push and exactly one consumer
// thread calls pop_all/empty; construction and destruction happen with neither running.
// Invariants: head <= tail <= head + capacity (free-running indices, masked on access); slots
// [head, tail) hold live objects, all others are raw storage.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace shoal::gateway {

template <class T>
class spsc_ring {
  static_assert(std::is_nothrow_move_constructible_v<T>, "elements move without throwing");
  static_assert(std::is_nothrow_destructible_v<T>);

 public:
  // The capacity is min_capacity rounded up to a power of two (at least 1).
  explicit spsc_ring(std::size_t min_capacity)
      : mask_(std::bit_ceil(std::max<std::size_t>(min_capacity, 1)) - 1),
        slots_(std::allocator<T>().allocate(mask_ + 1)) {}

  ~spsc_ring() {
    const std::size_t tail = producer_.tail.load(std::memory_order_relaxed);
    for (std::size_t i = consumer_.head.load(std::memory_order_relaxed); i != tail; ++i) {
      std::destroy_at(slot(i));
    }
    std::allocator<T>().deallocate(slots_, mask_ + 1);
  }

  spsc_ring(const spsc_ring&) = delete;
  spsc_ring& operator=(const spsc_ring&) = delete;

  std::size_t capacity() const noexcept { return mask_ + 1; }

  // Producer only. Moves v in and returns true, or returns false with v untouched when full.
  // `publish` orders the store that makes the element visible: release is enough for the data;
  // the mailbox passes seq_cst because its wake-up check (a Dekker pattern) needs it.
  bool try_push(T&& v, std::memory_order publish = std::memory_order_release) noexcept {
    const std::size_t tail = producer_.tail.load(std::memory_order_relaxed);
    if (tail - producer_.head_cache > mask_) {
      // Looks full: refresh the consumer's index. Acquire pairs with pop_all's release, so the
      // consumer's destruction of the slot happens before we construct into it.
      producer_.head_cache = consumer_.head.load(std::memory_order_acquire);
      if (tail - producer_.head_cache > mask_) return false;
    }
    std::construct_at(slot(tail), std::move(v));
    producer_.tail.store(tail + 1, publish);
    return true;
  }

  // Consumer only. Calls f(T&&) on up to `max` elements in push order, destroying each after f
  // returns; returns how many. Sees what was pushed before the call, not what arrives during it.
  template <class F>
  std::size_t pop_all(F&& f, std::size_t max = SIZE_MAX) {
    std::size_t head = consumer_.head.load(std::memory_order_relaxed);
    if (consumer_.tail_cache - head < max) {
      // Acquire pairs with try_push's publishing store: the element's bytes are visible.
      consumer_.tail_cache = producer_.tail.load(std::memory_order_acquire);
    }
    const std::size_t n = std::min(consumer_.tail_cache - head, max);
    if (n == 0) return 0;
    for (std::size_t i = 0; i < n; ++i, ++head) {
      T* p = slot(head);
      f(std::move(*p));
      std::destroy_at(p);
    }
    // One release store per batch hands all n slots back to the producer.
    consumer_.head.store(head, std::memory_order_release);
    return n;
  }

  // Consumer only. Like pop_all, but f(T&) decides per element: true means it took the element
  // (it is destroyed), false stops the drain with that element left in place, untouched.
  template <class F>
  std::size_t pop_while(F&& f) {
    std::size_t head = consumer_.head.load(std::memory_order_relaxed);
    consumer_.tail_cache = producer_.tail.load(std::memory_order_acquire);
    std::size_t n = 0;
    for (; head != consumer_.tail_cache; ++head, ++n) {
      T* p = slot(head);
      if (!f(*p)) break;
      std::destroy_at(p);
    }
    if (n != 0) consumer_.head.store(head, std::memory_order_release);
    return n;
  }

  // Producer only: no room for another element. `order` is the load of the consumer's index;
  // the mailbox's wait for room passes seq_cst (see mailbox.hpp).
  bool full(std::memory_order order = std::memory_order_acquire) const noexcept {
    return producer_.tail.load(std::memory_order_relaxed) - consumer_.head.load(order) > mask_;
  }

  // Consumer only (from elsewhere it is a snapshot). `order` is the load of the producer's
  // index; the mailbox's sleep re-check passes seq_cst, see mailbox.hpp.
  bool empty(std::memory_order order = std::memory_order_acquire) const noexcept {
    return consumer_.head.load(std::memory_order_relaxed) == producer_.tail.load(order);
  }

 private:
  T* slot(std::size_t index) const noexcept { return slots_ + (index & mask_); }

  // Read by both sides, written by neither after construction.
  const std::size_t mask_;
  T* const slots_;

  // Each side's index plus its cached copy of the other's, one cache line per side, so the
  // producer re-reads head (and the consumer tail) only when the cached copy runs out.
  struct alignas(64) producer_side {
    std::atomic<std::size_t> tail{0};
    std::size_t head_cache = 0;
  };
  struct alignas(64) consumer_side {
    std::atomic<std::size_t> head{0};
    std::size_t tail_cache = 0;
  };
  producer_side producer_;
  consumer_side consumer_;
};

}  // namespace shoal::gateway
