// ring_queue: a FIFO of movable T in one power-of-two array that doubles when full, so a queue
// in steady use allocates nothing per element (std::deque allocates and frees a block every few
// dozen elements as it moves). The queue object itself is one pointer: the array's head, size
// and mask live in the array's own header, and an empty queue that was never used holds nothing.
//
// Queues that are empty most of the time (a connection's answers in waiting: there is one per
// subscribed connection) call release() when they empty: the array goes back to a small cache
// of spare First-slot arrays of this thread, and the next queue on the thread to need one takes
// it from there, so a request that fills and empties its queue allocates nothing either. Larger
// arrays (a pipelining client's) are freed. Single thread: a queue, and the cache it uses, belong
// to the thread that runs it (a shard).
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
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

 public:
  // Spare First-slot arrays kept per thread (each is First slots of T and a header).
  static constexpr std::size_t max_spares = 64;

  ring_queue() = default;
  ring_queue(const ring_queue&) = delete;
  ring_queue& operator=(const ring_queue&) = delete;
  ring_queue(ring_queue&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  ~ring_queue() {
    clear();
    free_block(std::exchange(block_, nullptr));
  }

  bool empty() const noexcept { return size() == 0; }
  std::size_t size() const noexcept { return block_ ? block_->size : 0; }

  void push_back(T&& v) {
    if (size() == capacity()) grow();
    std::construct_at(raw_slot(block_->head + block_->size), std::move(v));
    ++block_->size;
  }
  T& front() noexcept {
    assert(size() != 0);
    return *slot(block_->head);
  }
  // The i-th element from the front.
  T& operator[](std::size_t i) noexcept {
    assert(i < size());
    return *slot(block_->head + i);
  }
  void pop_front() noexcept {
    assert(size() != 0);
    std::destroy_at(slot(block_->head));
    block_->head = (block_->head + 1) & block_->mask;
    --block_->size;
  }
  void clear() noexcept {
    while (size() != 0) pop_front();
  }
  // An empty queue gives its array back (to this thread's spares if it has First slots).
  void release() noexcept {
    if (block_ && block_->size == 0) {
      if (block_->mask + 1 == First) give_spare(std::exchange(block_, nullptr));
      else free_block(std::exchange(block_, nullptr));
    }
  }
  // Spare arrays this thread holds (for tests).
  static std::size_t spare_count() noexcept { return spares().count; }

 private:
  struct header {
    std::size_t mask = 0;
    std::size_t head = 0;
    std::size_t size = 0;
    header* next_spare = nullptr;
  };
  static constexpr std::size_t slots_offset = (sizeof(header) + alignof(T) - 1) / alignof(T) * alignof(T);

  // The cache of spare arrays; its destructor frees them when the thread ends.
  struct spare_list {
    header* head = nullptr;
    std::size_t count = 0;
    spare_list() = default;
    spare_list(const spare_list&) = delete;
    spare_list& operator=(const spare_list&) = delete;
    ~spare_list() {
      while (header* b = head) {
        head = b->next_spare;
        ::operator delete(b);
      }
    }
  };
  static spare_list& spares() noexcept {
    static thread_local spare_list list;
    return list;
  }

  std::size_t capacity() const noexcept { return block_ ? block_->mask + 1 : 0; }
  // Where slot i is (for construction), and the element in it.
  static T* raw_slot(header* b, std::size_t i) noexcept {
    return reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(b) + slots_offset) + (i & b->mask);
  }
  T* raw_slot(std::size_t i) const noexcept { return raw_slot(block_, i); }
  T* slot(std::size_t i) const noexcept { return std::launder(raw_slot(i)); }

  static header* new_block(std::size_t cap) {
    if (cap == First) {
      spare_list& s = spares();
      if (header* b = s.head) {
        s.head = b->next_spare;
        --s.count;
        *b = header{cap - 1, 0, 0, nullptr};
        return b;
      }
    }
    void* raw = ::operator new(slots_offset + cap * sizeof(T));
    return ::new (raw) header{cap - 1, 0, 0, nullptr};
  }
  static void give_spare(header* b) noexcept {
    spare_list& s = spares();
    if (s.count >= max_spares) {
      free_block(b);
      return;
    }
    b->next_spare = s.head;
    s.head = b;
    ++s.count;
  }
  static void free_block(header* b) noexcept {
    if (b) ::operator delete(b);
  }

  void grow() {
    const std::size_t cap = std::max<std::size_t>(First, capacity() * 2);
    header* bigger = new_block(cap);
    const std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) {
      T* from = slot(block_->head + i);
      std::construct_at(raw_slot(bigger, i), std::move(*from));
      std::destroy_at(from);
    }
    bigger->size = n;
    header* old = std::exchange(block_, bigger);
    if (old) {
      if (old->mask + 1 == First) give_spare(old);
      else free_block(old);
    }
  }

  header* block_ = nullptr;
};

}  // namespace shoal::gateway
