// A connection's output: an ordered queue of byte ranges, each either a reference to a
// shared_frame through its shard-local handle (broadcast, zero-copy) or bytes the connection produced itself (echo replies,
// pongs, acks) kept in its own append-only buffer. It counts the bytes queued and not yet
// written (the connection's buffered amount) and fills an iovec array for one gather write per
// loop pass. Owned by one connection on one shard.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gateway/local_frame.hpp"

namespace shoal::gateway {

class out_queue {
 public:
  out_queue() = default;
  out_queue(const out_queue&) = delete;
  out_queue& operator=(const out_queue&) = delete;
  ~out_queue() { clear(); }

  // Appends `n` bytes of local output; returns where to write them (valid until the next call).
  std::uint8_t* append_local(std::size_t n);
  // Queues a reference to a broadcast frame (takes a local reference, released when written).
  // Inline, with growth out of line: this is the per-delivery path of every broadcast.
  void append_shared(local_frame* frame) { append_shared(frame, 0, frame->size()); }
  // Queues `length` bytes of the frame's block from `offset` (its compressed variant).
  void append_shared(local_frame* frame, std::uint32_t offset, std::uint32_t length) {
    frame->retain();
    if (size_ == capacity_) [[unlikely]] grow();
    entries_[size_++] = entry{frame, offset, length};
    buffered_ += length;
  }

  // Fills `iov` with the queued ranges, in order; returns how many were filled.
  std::size_t gather(std::span<iovec> iov) const noexcept;
  // The first `n` queued bytes (n <= buffered()) as one span: inside the first entry when it
  // holds them all (no copy), else gathered into `scratch`. For writers that take one buffer at
  // a time (TLS records); the same call on an unchanged queue gives the same bytes.
  std::span<const std::uint8_t> front(std::size_t n, std::vector<std::uint8_t>& scratch) const;
  // Drops `n` written bytes from the front.
  void consume(std::size_t n) noexcept;
  void clear() noexcept;
  // Gives the buffers' memory back when nothing is queued (an idle connection), so idle
  // connections hold no output memory; busy ones keep theirs and allocate nothing per message.
  void trim() noexcept {
    if (empty()) clear();
  }

  std::size_t buffered() const noexcept { return buffered_; }
  bool empty() const noexcept { return buffered_ == 0; }

 private:
  struct entry {
    local_frame* frame;       // null: bytes in local_
    std::uint32_t offset;     // into the frame or local_
    std::uint32_t length;
  };
  [[gnu::noinline]] void grow();  // doubles the entry array (or compacts it)

  // Pending entries are entries_[head_..size_); a plain array, not a deque (libstdc++'s deque
  // allocates on construction) nor a vector (its inlined growth path made every append save
  // six registers).
  std::unique_ptr<entry[]> entries_;
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = 0;
  std::vector<std::uint8_t> local_;  // append-only until the queue empties
  std::size_t buffered_ = 0;
};

}  // namespace shoal::gateway
