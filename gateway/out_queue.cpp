// The connection output queue (see out_queue.hpp).
#include "gateway/out_queue.hpp"

namespace shoal::gateway {

std::uint8_t* out_queue::append_local(std::size_t n) {
  const std::size_t at = local_.size();
  // Local bytes that follow local bytes extend the last entry, so a burst of small replies is
  // one iovec.
  if (entries_.size() > head_ && entries_.back().frame == nullptr &&
      entries_.back().offset + entries_.back().length == at) {
    entries_.back().length += static_cast<std::uint32_t>(n);
  } else {
    entries_.push_back({nullptr, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(n)});
  }
  local_.resize(at + n);
  buffered_ += n;
  return local_.data() + at;
}

void out_queue::append_shared(local_frame* frame) {
  frame->retain();
  entries_.push_back({frame, 0, frame->size()});
  buffered_ += frame->size();
}

std::size_t out_queue::gather(std::span<iovec> iov) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = head_; i < entries_.size() && n < iov.size(); ++i) {
    const entry& e = entries_[i];
    const std::uint8_t* base = e.frame ? e.frame->data() : local_.data();
    iov[n].iov_base = const_cast<std::uint8_t*>(base + e.offset);
    iov[n].iov_len = e.length;
    ++n;
  }
  return n;
}

void out_queue::consume(std::size_t n) noexcept {
  buffered_ -= n;
  while (n > 0 && head_ < entries_.size()) {
    entry& e = entries_[head_];
    if (n < e.length) {
      e.offset += static_cast<std::uint32_t>(n);
      e.length -= static_cast<std::uint32_t>(n);
      return;
    }
    n -= e.length;
    if (e.frame) e.frame->release();
    ++head_;
  }
  if (head_ == entries_.size()) {
    entries_.clear();
    head_ = 0;
    // Keep a small local buffer for the next replies; give a large one back.
    if (local_.capacity() > 64 * 1024) std::vector<std::uint8_t>().swap(local_);
    local_.clear();
  } else if (head_ >= 256 && head_ * 2 >= entries_.size()) {
    // A queue that never empties (a steadily busy connection) is compacted, so its entry
    // vector stays proportional to what is pending.
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void out_queue::clear() noexcept {
  for (std::size_t i = head_; i < entries_.size(); ++i)
    if (entries_[i].frame) entries_[i].frame->release();
  std::vector<entry>().swap(entries_);
  head_ = 0;
  std::vector<std::uint8_t>().swap(local_);
  buffered_ = 0;
}

}  // namespace shoal::gateway
