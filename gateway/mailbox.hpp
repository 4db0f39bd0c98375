// mailbox_mesh: the cross-shard mailbox, one spsc_ring per (from, to) pair of shards plus one
// eventfd and one "sleeping" flag per receiving shard. Shard `s`'s thread is the only one that
// calls send(s, ...) and the only one that calls receive/prepare_to_sleep/woke/drain_wake_fd(s).
// from == to is allowed (a shard may post to itself; it never needs a wake-up). Indices are
// shard_id values (index_of); each must be < shards(). Built before the shards start.
//
// Why no wake-up is lost. The sender publishes the element with a seq_cst store of the ring's
// tail, then loads the receiver's flag seq_cst; the receiver stores flag = true seq_cst, then
// loads every tail seq_cst (prepare_to_sleep) before it blocks. All four are in the one total
// order S. If the sender's load saw false, that false comes before the receiver's next true in
// the flag's modification order, so the load precedes that store in S, and the receiver's later
// tail load sees the element: it does not block. Otherwise the sender saw true; the first sender
// to exchange the flag back to false writes the eventfd, which stays readable until drained, so
// the poll returns; later senders see false and skip the syscall. A busy receiver's flag is
// false, so sending to it costs no syscall. These flags and the rings' head/tail indices
// (spsc_ring.hpp) are the mailbox's only cross-thread atomics.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "gateway/spsc_ring.hpp"

namespace shoal::gateway {

// The non-template half: the eventfds and sleeping flags, one per receiving shard.
class mailbox_wakeups {
 public:
  explicit mailbox_wakeups(unsigned shards);
  ~mailbox_wakeups();
  mailbox_wakeups(const mailbox_wakeups&) = delete;
  mailbox_wakeups& operator=(const mailbox_wakeups&) = delete;

  int error() const noexcept { return error_; }
  int fd(unsigned to) const noexcept { return receivers_[to].fd; }
  std::uint64_t drain(unsigned to) noexcept;

  void announce_sleep(unsigned to) noexcept {
    receivers_[to].sleeping.store(true, std::memory_order_seq_cst);
  }
  // Any order will do: a stale true seen by a sender costs at most one spurious eventfd write.
  void woke(unsigned to) noexcept {
    receivers_[to].sleeping.store(false, std::memory_order_relaxed);
  }

  // Sender side, after a seq_cst publish; the plain load keeps the line shared among senders.
  void wake_if_sleeping(unsigned to) noexcept {
    if (receivers_[to].sleeping.load(std::memory_order_seq_cst)) wake(to);
  }

 private:
  void wake(unsigned to) noexcept;

  struct alignas(64) receiver {
    std::atomic<bool> sleeping{false};
    int fd = -1;  // EFD_NONBLOCK | EFD_CLOEXEC; immutable while shards run
  };
  std::unique_ptr<receiver[]> receivers_;
  unsigned count_ = 0;
  int error_ = 0;  // errno of the first eventfd() that failed, 0 when all were created
};

template <class Msg>
class mailbox_mesh {
 public:
  // capacity_per_pair is rounded up to a power of two. Check ok() before use.
  mailbox_mesh(unsigned shards, std::size_t capacity_per_pair)
      : shards_(shards), wakeups_(shards), cursors_(std::make_unique<cursor[]>(shards)) {
    rings_.reserve(std::size_t{shards} * shards);
    for (std::size_t i = 0; i < std::size_t{shards} * shards; ++i) {
      rings_.push_back(std::make_unique<spsc_ring<Msg>>(capacity_per_pair));
    }
  }
  mailbox_mesh(const mailbox_mesh&) = delete;
  mailbox_mesh& operator=(const mailbox_mesh&) = delete;

  bool ok() const noexcept { return wakeups_.error() == 0; }
  int error() const noexcept { return wakeups_.error(); }  // errno from eventfd()
  unsigned shards() const noexcept { return shards_; }

  // On from's thread. False when the pair's ring is full; m is then left intact and the caller
  // picks the policy (retry next pass, or drop and report a gap). Wakes `to` only if it sleeps.
  bool send(unsigned from, unsigned to, Msg&& m) noexcept {
    if (!ring(from, to).try_push(std::move(m), std::memory_order_seq_cst)) return false;
    wakeups_.wake_if_sleeping(to);
    return true;
  }

  // On to's thread. Drains every ring addressed to `to`, calling f(from, Msg&&) in per-sender
  // order; the starting sender rotates per call so no sender is always served first.
  template <class F>
  std::size_t receive(unsigned to, F&& f) {
    assert(to < shards_);
    const unsigned start = cursors_[to].next;
    cursors_[to].next = start + 1 == shards_ ? 0 : start + 1;
    std::size_t total = 0;
    for (unsigned i = 0; i < shards_; ++i) {
      const unsigned from = start + i < shards_ ? start + i : start + i - shards_;
      total += ring(from, to).pop_all([&](Msg&& m) { f(from, std::move(m)); });
    }
    return total;
  }

  // The receiver's reactor watches this for readability.
  int wake_fd(unsigned to) const noexcept { return wakeups_.fd(to); }
  // Resets the eventfd; returns how many wake-ups were written since the last drain.
  std::uint64_t drain_wake_fd(unsigned to) noexcept { return wakeups_.drain(to); }

  // On to's thread, right before blocking on wake_fd. True: block. False: something arrived
  // (the flag is cleared again), so poll instead. A wake-up may still be pending on the fd when
  // this returns false; it only costs one spurious loop pass later.
  bool prepare_to_sleep(unsigned to) noexcept {
    assert(to < shards_);
    wakeups_.announce_sleep(to);
    for (unsigned from = 0; from < shards_; ++from) {
      if (!ring(from, to).empty(std::memory_order_seq_cst)) {
        wakeups_.woke(to);
        return false;
      }
    }
    return true;
  }
  // On to's thread, after the wait returned (woken or not).
  void woke(unsigned to) noexcept { wakeups_.woke(to); }

 private:
  // Grouped by receiver so receive() walks adjacent entries.
  spsc_ring<Msg>& ring(unsigned from, unsigned to) noexcept {
    assert(from < shards_ && to < shards_);
    return *rings_[std::size_t{to} * shards_ + from];
  }

  struct alignas(64) cursor {
    unsigned next = 0;  // receiver-private; own line so senders' reads stay unaffected
  };

  unsigned shards_;
  mailbox_wakeups wakeups_;
  std::vector<std::unique_ptr<spsc_ring<Msg>>> rings_;
  std::unique_ptr<cursor[]> cursors_;
};

}  // namespace shoal::gateway
