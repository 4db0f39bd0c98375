// mailbox_wakeups: the eventfds behind the cross-shard mailbox (see mailbox.hpp for the ordering
// argument). Created and closed while no shard runs; wake() runs on any sender's thread, drain()
// only on the receiver's. A failed eventfd() is reported through error(), not thrown.
#include "gateway/mailbox.hpp"

#include <cerrno>

#include <sys/eventfd.h>
#include <unistd.h>

namespace shoal::gateway {

mailbox_wakeups::mailbox_wakeups(unsigned shards)
    : receivers_(std::make_unique<receiver[]>(shards)), count_(shards) {
  for (unsigned i = 0; i < count_; ++i) {
    receivers_[i].fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (receivers_[i].fd < 0 && error_ == 0) error_ = errno;
  }
}

mailbox_wakeups::~mailbox_wakeups() {
  for (unsigned i = 0; i < count_; ++i) {
    if (receivers_[i].fd >= 0) ::close(receivers_[i].fd);
  }
}

void mailbox_wakeups::wake(unsigned to) noexcept {
  // Only the sender that flips the flag back to false pays for the write.
  if (!receivers_[to].sleeping.exchange(false, std::memory_order_seq_cst)) return;
  const std::uint64_t one = 1;
  // EAGAIN means the counter is saturated, so the fd is readable already; nothing else applies.
  [[maybe_unused]] const ssize_t n = ::write(receivers_[to].fd, &one, sizeof one);
}

std::uint64_t mailbox_wakeups::drain(unsigned to) noexcept {
  std::uint64_t count = 0;
  if (::read(receivers_[to].fd, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) {
    return 0;  // EAGAIN: nothing was written since the last drain
  }
  return count;
}

}  // namespace shoal::gateway
