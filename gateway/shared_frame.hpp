// An immutable, reference-counted, fully encoded server frame (header + payload in one block),
// optionally followed in the same block by the message's permessage-deflate frame (RSV1) for the
// connections that share the shard-wide compressor settings. A broadcast encodes (and
// compresses) a message once into a shared_frame and every subscriber's output queue holds a
// reference, never a copy. The reference count is one of the few cross-thread atomics
// (a frame published on one shard is written by others); the bytes never change after create().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>

namespace shoal::gateway {

class shared_frame {
 public:
  // Allocates a frame of `size` bytes, and room for a compressed frame of `compressed_size`
  // bytes after it, with one reference; the caller fills data() and compressed() once.
  static shared_frame* create(std::uint32_t size, std::uint32_t compressed_size = 0) {
    void* mem = ::operator new(sizeof(shared_frame) + size + compressed_size);
    return new (mem) shared_frame(size, compressed_size);
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

}  // namespace shoal::gateway
