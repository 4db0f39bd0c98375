// An immutable, reference-counted, fully encoded server frame (header + payload in one block).
// A broadcast encodes a message once into a shared_frame and every subscriber's output queue
// holds a reference, never a copy. The reference count is one of the few cross-thread atomics
// (a frame published on one shard is written by others); the bytes never change after create().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>

namespace shoal::gateway {

class shared_frame {
 public:
  // Allocates a frame of `size` bytes with one reference; the caller fills data() once.
  static shared_frame* create(std::uint32_t size) {
    void* mem = ::operator new(sizeof(shared_frame) + size);
    return new (mem) shared_frame(size);
  }
  shared_frame(const shared_frame&) = delete;
  shared_frame& operator=(const shared_frame&) = delete;

  void retain(std::uint32_t n = 1) noexcept { refs_.fetch_add(n, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~shared_frame();
      ::operator delete(this);
    }
  }

  std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }
  const std::uint8_t* data() const noexcept { return reinterpret_cast<const std::uint8_t*>(this + 1); }
  std::uint32_t size() const noexcept { return size_; }

  // Broadcast metadata, set once by the topic's home shard before the frame is shared: the
  // message's sequence number and where the topic name sits inside the frame's own bytes.
  void set_message(std::uint64_t seq, std::uint32_t topic_offset, std::uint32_t topic_len) noexcept {
    seq_ = seq;
    topic_offset_ = topic_offset;
    topic_len_ = topic_len;
  }
  std::uint64_t seq() const noexcept { return seq_; }
  std::string_view topic() const noexcept {
    return {reinterpret_cast<const char*>(data()) + topic_offset_, topic_len_};
  }

 private:
  explicit shared_frame(std::uint32_t size) noexcept : size_(size) {}
  ~shared_frame() = default;

  std::atomic<std::uint32_t> refs_{1};
  std::uint32_t size_;
  std::uint64_t seq_ = 0;
  std::uint32_t topic_offset_ = 0;
  std::uint32_t topic_len_ = 0;
};

}  // namespace shoal::gateway
