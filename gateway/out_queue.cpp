// The connection output queue (see out_queue.hpp).
#include "gateway/out_queue.hpp"

#include <algorithm>

namespace shoal::gateway {

std::uint8_t* out_queue::append_local(std::size_t n) {
  const std::size_t at = local_.size();
  // Local bytes that follow local bytes extend the last entry, so a burst of small replies is
  // one iovec.
  entry* last = size_ > head_ ? &entries_[size_ - 1] : nullptr;
  if (last && last->frame == nullptr && last->offset + last->length == at) {
    last->length += static_cast<std::uint32_t>(n);
  } else {
    if (size_ == capacity_) grow();
    entries_[size_++] = entry{nullptr, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(n)};
  }
  local_.resize(at + n);
  buffered_ += n;
  return local_.data() + at;
}

void out_queue::grow() {
  if (head_ > 0 && head_ * 2 >= size_) {
    // Mostly consumed: slide the pending entries to the front instead of growing.
    std::copy(entries_.get() + head_, entries_.get() + size_, entries_.get());
    size_ -= head_;
    head_ = 0;
    return;
  }
  const std::uint32_t cap = capacity_ ? capacity_ * 2 : 4;
  auto bigger = std::make_unique_for_overwrite<entry[]>(cap);
  std::copy(entries_.get() + head_, entries_.get() + size_, bigger.get());
  entries_ = std::move(bigger);
  size_ -= head_;
  head_ = 0;
  capacity_ = cap;
}

std::size_t out_queue::gather(std::span<iovec> iov) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = head_; i < size_ && n < iov.size(); ++i) {
    const entry& e = entries_[i];
    const std::uint8_t* base = e.frame ? e.frame->data() : local_.data();
    iov[n].iov_base = const_cast<std::uint8_t*>(base + e.offset);
    iov[n].iov_len = e.length;
    ++n;
  }
  return n;
}

std::span<const std::uint8_t> out_queue::front(std::size_t n, std::vector<std::uint8_t>& scratch) const {
  const auto bytes_of = [this](const entry& e) {
    return (e.frame ? e.frame->data() : local_.data()) + e.offset;
  };
  if (head_ < size_ && entries_[head_].length >= n) return {bytes_of(entries_[head_]), n};
  scratch.resize(n);
  std::size_t at = 0;
  for (std::size_t i = head_; i < size_ && at < n; ++i) {
    const std::size_t take = std::min<std::size_t>(entries_[i].length, n - at);
    std::copy_n(bytes_of(entries_[i]), take, scratch.data() + at);
    at += take;
  }
  return {scratch.data(), at};
}

void out_queue::consume(std::size_t n) noexcept {
  buffered_ -= n;
  while (n > 0 && head_ < size_) {
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
  if (head_ == size_) {
    size_ = head_ = 0;
    // Keep a small local buffer for the next replies; give a large one back.
    if (local_.capacity() > 64 * 1024) std::vector<std::uint8_t>().swap(local_);
    local_.clear();
  }
}

void out_queue::clear() noexcept {
  for (std::size_t i = head_; i < size_; ++i)
    if (entries_[i].frame) entries_[i].frame->release();
  entries_.reset();
  head_ = size_ = capacity_ = 0;
  std::vector<std::uint8_t>().swap(local_);
  buffered_ = 0;
}

}  // namespace shoal::gateway
