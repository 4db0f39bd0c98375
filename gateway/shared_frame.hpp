// An immutable, reference-counted, fully encoded server frame (header + payload in one block),
// optionally followed in the same block by the message's permessage-deflate frame (RSV1) for the
// connections that share the shard-wide compressor settings. A broadcast encodes (and
// compresses) a message once into a shared_frame and every subscriber's output queue holds a
// reference, never a copy. The reference count is one of the few cross-thread atomics
// (a frame published on one shard is written by others); the bytes never change after create().
// Outside local_frame_pool, a reference is held only through frame_ref, a move-only handle, so
// a reference is never retained or released by hand.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>
#include <utility>

namespace shoal::gateway {

class frame_ref;

class shared_frame {
 public:
  // Allocates a frame of `size` bytes, and room for a compressed frame of `compressed_size`
  // bytes after it; the caller fills data() and compressed_data() once, before sharing it.
  static frame_ref create(std::uint32_t size, std::uint32_t compressed_size = 0);
  shared_frame(const shared_frame&) = delete;
  shared_frame& operator=(const shared_frame&) = delete;

  // Only frame_ref and local_frame_pool count references.
  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~shared_frame();
      ::operator delete(this);
    }
  }

  std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }
  const std::uint8_t* data() const noexcept { return reinterpret_cast<const std::uint8_t*>(this + 1); }
  std::uint32_t size() const noexcept { return size_; }
  // The payload of the (plain, unmasked) frame: data() after its header.
  std::span<const std::uint8_t> payload() const noexcept {
    const std::uint8_t len7 = data()[1] & 0x7f;
    const std::uint32_t header = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
    return {data() + header, size_ - header};
  }
  // The compressed variant (empty if none); it starts at data() + size().
  std::uint8_t* compressed_data() noexcept { return data() + size_; }
  std::uint32_t compressed_size() const noexcept { return compressed_size_; }
  // Bytes of the whole block (both variants), for history accounting.
  std::uint32_t bytes() const noexcept { return size_ + compressed_size_; }

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
  shared_frame(std::uint32_t size, std::uint32_t compressed_size) noexcept
      : size_(size), compressed_size_(compressed_size) {}
  ~shared_frame() = default;

  std::atomic<std::uint32_t> refs_{1};
  std::uint32_t size_;
  std::uint32_t compressed_size_;
  std::uint64_t seq_ = 0;
  std::uint32_t topic_offset_ = 0;
  std::uint32_t topic_len_ = 0;
};

// One counted reference to a shared_frame. Moving hands the reference over; share() takes
// another; the destructor gives it back. A copy, a double release or a use after release of a
// handle does not compile or is a null dereference, never a silent use-after-free.
class frame_ref {
 public:
  frame_ref() noexcept = default;
  frame_ref(const frame_ref&) = delete;
  frame_ref& operator=(const frame_ref&) = delete;
  frame_ref(frame_ref&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  frame_ref& operator=(frame_ref&& o) noexcept {
    if (this != &o) {
      reset();
      f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
  }
  ~frame_ref() { reset(); }

  // Takes over one reference the caller holds (a frame just created, or handed over by
  // local_frame_pool).
  static frame_ref adopt(shared_frame* f) noexcept { return frame_ref(f); }
  // Another reference to the same frame.
  frame_ref share() const noexcept {
    f_->retain();
    return frame_ref(f_);
  }
  // Gives the reference up to the caller (local_frame_pool takes it this way).
  [[nodiscard]] shared_frame* release_to_owner() noexcept { return std::exchange(f_, nullptr); }
  void reset() noexcept {
    if (f_) std::exchange(f_, nullptr)->release();
  }

  shared_frame* get() const noexcept { return f_; }
  shared_frame* operator->() const noexcept { return f_; }
  shared_frame& operator*() const noexcept { return *f_; }
  explicit operator bool() const noexcept { return f_ != nullptr; }

 private:
  explicit frame_ref(shared_frame* f) noexcept : f_(f) {}
  shared_frame* f_ = nullptr;
};

inline frame_ref shared_frame::create(std::uint32_t size, std::uint32_t compressed_size) {
  void* mem = ::operator new(sizeof(shared_frame) + size + compressed_size);
  return frame_ref::adopt(new (mem) shared_frame(size, compressed_size));
}

}  // namespace shoal::gateway
