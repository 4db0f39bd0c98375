// A shard-local handle on a shared_frame. A shard that receives a broadcast frame holds one
// atomic reference to it; every subscriber queue on that shard counts on the handle instead,
// without atomics, so a message costs O(shards) atomic operations, not O(subscribers). Handles
// come from a per-shard free list (no allocation per message once warm). Shard-owned.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/shared_frame.hpp"

namespace shoal::gateway {

class local_frame_pool;

struct local_frame {
  shared_frame* frame = nullptr;
  std::uint32_t refs = 0;
  local_frame_pool* pool = nullptr;
  local_frame* next_free = nullptr;

  const std::uint8_t* data() const noexcept { return frame->data(); }
  std::uint32_t size() const noexcept { return frame->size(); }
  void retain() noexcept { ++refs; }
  inline void release() noexcept;
};

class local_frame_pool {
 public:
  local_frame_pool() = default;
  local_frame_pool(const local_frame_pool&) = delete;
  local_frame_pool& operator=(const local_frame_pool&) = delete;
  ~local_frame_pool() {
    for (local_frame* block : blocks_) delete[] block;
  }

  // Wraps `frame`, taking over its atomic reference; the handle starts with one local
  // reference (the caller's), released with release().
  local_frame* adopt(frame_ref frame) {
    if (!free_) grow();
    local_frame* lf = free_;
    free_ = lf->next_free;
    lf->frame = frame.release_to_owner();
    lf->refs = 1;
    lf->next_free = nullptr;
    return lf;
  }

  void recycle(local_frame* lf) noexcept {
    frame_ref::adopt(lf->frame).reset();  // the shard's one atomic reference
    lf->frame = nullptr;
    lf->next_free = free_;
    free_ = lf;
  }

 private:
  void grow() {
    constexpr std::size_t block_size = 256;
    local_frame* block = new local_frame[block_size];
    blocks_.push_back(block);
    for (std::size_t i = 0; i < block_size; ++i) {
      block[i].pool = this;
      block[i].next_free = free_;
      free_ = &block[i];
    }
  }

  local_frame* free_ = nullptr;
  std::vector<local_frame*> blocks_;
};

inline void local_frame::release() noexcept {
  if (--refs == 0) pool->recycle(this);
}

}  // namespace shoal::gateway
