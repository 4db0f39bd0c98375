// ring_queue: a FIFO of movable T in one power-of-two array that doubles when full and never
// shrinks below what it once needed, so a queue in steady use allocates nothing per element
// (std::deque allocates and frees a block every few dozen elements as it moves). The first
// array holds First elements: small where there are many queues that rarely hold more than one
// (a connection's answers in waiting), larger for a shard's overflow toward another shard.
// Single thread.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace shoal::gateway {

template <class T, std::size_t First = 16>
class ring_queue {
  static_assert(std::has_single_bit(First));

 public:
  ring_queue() = default;
  ring_queue(const ring_queue&) = delete;
  ring_queue& operator=(const ring_queue&) = delete;
  ring_queue(ring_queue&& o) noexcept
      : slots_(std::move(o.slots_)), mask_(std::exchange(o.mask_, 0)),
        head_(std::exchange(o.head_, 0)), size_(std::exchange(o.size_, 0)) {}
  ~ring_queue() { clear(); }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  void push_back(T&& v) {
    if (size_ == capacity()) grow();
    std::construct_at(slot(head_ + size_), std::move(v));
    ++size_;
  }
  T& front() noexcept {
    assert(size_ != 0);
    return *slot(head_);
  }
  // The i-th element from the front.
  T& operator[](std::size_t i) noexcept {
    assert(i < size_);
    return *slot(head_ + i);
  }
  void pop_front() noexcept {
    assert(size_ != 0);
    std::destroy_at(slot(head_));
    head_ = (head_ + 1) & mask_;
    --size_;
  }
  void clear() noexcept {
    while (size_ != 0) pop_front();
  }

 private:
  struct storage {
    alignas(T) unsigned char bytes[sizeof(T)];
  };
  std::size_t capacity() const noexcept { return slots_ ? mask_ + 1 : 0; }
  T* slot(std::size_t i) const noexcept {
    return std::launder(reinterpret_cast<T*>(slots_[i & mask_].bytes));
  }
  void grow() {
    const std::size_t cap = std::max<std::size_t>(First, capacity() * 2);
    auto bigger = std::make_unique<storage[]>(cap);
    for (std::size_t i = 0; i < size_; ++i) {
      T* from = slot(head_ + i);
      std::construct_at(reinterpret_cast<T*>(bigger[i].bytes), std::move(*from));
      std::destroy_at(from);
    }
    slots_ = std::move(bigger);
    mask_ = cap - 1;
    head_ = 0;
  }

  std::unique_ptr<storage[]> slots_;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace shoal::gateway
