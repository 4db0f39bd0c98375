// mailbox_mesh: the cross-shard mailbox, one spsc_ring per (from, to) pair of shards and lane,
// plus one eventfd and one "sleeping" flag per receiving shard. Each ring also counts the bytes
// (Msg's weight()) its sender put in and its receiver took out, for the byte bounds of the
// cross-shard queues, and has a "wants room" flag for a sender that found it full. Shard `s`'s thread is the only one that
// calls send(s, ...) and the only one that calls receive/prepare_to_sleep/woke/drain_wake_fd(s).
// from == to is allowed (a shard may post to itself; it never needs a wake-up). Indices are
// shard_id values; each must be < shards(). Built before the shards start.
//
// Why no wake-up is lost. The sender publishes the element with a seq_cst store of the ring's
// tail, then loads the receiver's flag seq_cst; the receiver stores flag = true seq_cst, then
// loads every tail seq_cst (prepare_to_sleep) before it blocks. All four are in the one total
// order S. If the sender's load saw false, that false comes before the receiver's next true in
// the flag's modification order, so the load precedes that store in S, and the receiver's later
// tail load sees the element: it does not block. Otherwise the sender saw true; the first sender
// to exchange the flag back to false writes the eventfd, which stays readable until drained, so
// the poll returns; later senders see false and skip the syscall. A busy receiver's flag is
// false, so sending to it costs no syscall.
//
// Why no wait for room is lost. A sender whose push failed sets the ring's wants_room flag,
// issues a seq_cst fence and tries once more; before it sleeps it announces sleep and re-checks
// the rings it waits on with seq_cst loads (has_room). The receiver stores the ring's head after
// a drain, issues a seq_cst fence and reads wants_room; if set, it clears it and wakes the
// sender if it sleeps. Either the receiver's read sees the flag (then, as above, the sender is
// woken or its has_room sees the new head), or it precedes the flag store, and then the sender's
// retry, after its fence, sees the freed room. These flags, the byte counters and the rings'
// head/tail indices (spsc_ring.hpp) are the mailbox's only cross-thread atomics.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "gateway/shard_id.hpp"
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

// Bytes a message weighs in the byte bounds: weight(m) found by ADL if Msg has one, else 0.
template <class Msg>
std::size_t message_weight(const Msg& m) noexcept {
  if constexpr (requires { weight(m); }) return weight(m);
  else return 0;
}

template <class Msg, unsigned Lanes = 1>
class mailbox_mesh {
 public:
  // capacity_per_ring is rounded up to a power of two. Check ok() before use.
  mailbox_mesh(unsigned shards, std::size_t capacity_per_ring)
      : shards_(shards), wakeups_(shards), cursors_(std::make_unique<cursor[]>(shards)) {
    rings_.reserve(std::size_t{shards} * shards * Lanes);
    for (std::size_t i = 0; i < std::size_t{shards} * shards * Lanes; ++i) {
      rings_.push_back(std::make_unique<lane_ring>(capacity_per_ring));
    }
  }
  mailbox_mesh(const mailbox_mesh&) = delete;
  mailbox_mesh& operator=(const mailbox_mesh&) = delete;

  bool ok() const noexcept { return wakeups_.error() == 0; }
  int error() const noexcept { return wakeups_.error(); }  // errno from eventfd()
  unsigned shards() const noexcept { return shards_; }

  // On from's thread. False when the ring is full; m is then left intact, the ring remembers
  // that its sender waits for room (the receiver wakes it after its next drain), and the caller
  // keeps m for later. Wakes `to` only if it sleeps.
  bool send(shard_id from, shard_id to, Msg&& m, unsigned lane = 0) noexcept {
    lane_ring& r = ring(from, to, lane);
    const std::size_t w = message_weight(m);
    if (!r.ring.try_push(std::move(m), std::memory_order_seq_cst)) {
      r.wants_room.store(true, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (!r.ring.try_push(std::move(m), std::memory_order_seq_cst)) return false;
    }
    r.sent_bytes += w;
    wakeups_.wake_if_sleeping(index_of(to));
    return true;
  }

  // On from's thread: bytes sent through the ring and not yet taken by the receiver.
  std::size_t in_flight(shard_id from, shard_id to, unsigned lane = 0) const noexcept {
    lane_ring& r = ring(from, to, lane);
    r.taken_seen = r.taken_bytes.load(std::memory_order_relaxed);
    return r.sent_bytes - r.taken_seen;
  }
  // On from's thread: at least in_flight(), without reading the receiver's counter (its cache
  // line stays where it is): the bytes sent since the receiver's count was last read.
  std::size_t in_flight_at_most(shard_id from, shard_id to, unsigned lane = 0) const noexcept {
    const lane_ring& r = ring(from, to, lane);
    return r.sent_bytes - r.taken_seen;
  }
  // On from's thread: asks the receiver to wake this shard after its next drain of the ring
  // (a sender waiting for in_flight() to fall, not for a failed push).
  void wait_for_room(shard_id from, shard_id to, unsigned lane = 0) noexcept {
    ring(from, to, lane).wants_room.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  // On from's thread, after announce_sleep: true when a push to the ring would succeed now.
  bool has_room(shard_id from, shard_id to, unsigned lane = 0) const noexcept {
    return !ring(from, to, lane).ring.full(std::memory_order_seq_cst);
  }

  // On to's thread. Drains every ring of `lane` addressed to `to`, calling f(from, Msg&&) in
  // per-sender order; the starting sender rotates per call so no sender is always served first.
  template <class F>
  std::size_t receive_lane(shard_id to, unsigned lane, F&& f) {
    return receive_while(to, lane, [&](shard_id from, Msg& m) {
      f(from, std::move(m));
      return true;
    });
  }
  // As receive_lane, but f(from, Msg&) returns false to stop the whole drain, leaving that
  // message (untouched) and everything after it for a later call.
  template <class F>
  std::size_t receive_while(shard_id to, unsigned lane, F&& f) {
    assert(index_of(to) < shards_ && lane < Lanes);
    cursor& c = cursors_[index_of(to)];
    const unsigned start = c.next;
    c.next = start + 1 == shards_ ? 0 : start + 1;
    std::size_t total = 0;
    bool stopped = false;
    for (unsigned i = 0; i < shards_ && !stopped; ++i) {
      const shard_id from{static_cast<std::uint16_t>(start + i < shards_ ? start + i : start + i - shards_)};
      lane_ring& r = ring(from, to, lane);
      std::size_t taken = 0;
      const std::size_t n = r.ring.pop_while([&](Msg& m) {
        const std::size_t w = message_weight(m);
        if (!f(from, m)) {
          stopped = true;
          return false;
        }
        taken += w;
        return true;
      });
      if (n == 0) continue;
      total += n;
      r.taken_bytes.store(r.taken_bytes.load(std::memory_order_relaxed) + taken,
                          std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (r.wants_room.load(std::memory_order_relaxed) &&
          r.wants_room.exchange(false, std::memory_order_relaxed))
        wakeups_.wake_if_sleeping(index_of(from));
    }
    return total;
  }
  // Every lane.
  template <class F>
  std::size_t receive(shard_id to, F&& f) {
    std::size_t total = 0;
    for (unsigned lane = 0; lane < Lanes; ++lane) total += receive_lane(to, lane, f);
    return total;
  }

  // The receiver's reactor watches this for readability.
  int wake_fd(shard_id to) const noexcept { return wakeups_.fd(index_of(to)); }
  // Resets the eventfd; returns how many wake-ups were written since the last drain.
  std::uint64_t drain_wake_fd(shard_id to) noexcept { return wakeups_.drain(index_of(to)); }

  // On to's thread, before blocking on wake_fd: announce_sleep, then check has_mail for every
  // lane it will drain and has_room for every ring it waits on; block only if all say no,
  // else call woke(to) and poll instead.
  void announce_sleep(shard_id to) noexcept { wakeups_.announce_sleep(index_of(to)); }
  bool has_mail(shard_id to, unsigned lane) const noexcept {
    for (unsigned from = 0; from < shards_; ++from)
      if (!ring(shard_id(from), to, lane).ring.empty(std::memory_order_seq_cst)) return true;
    return false;
  }
  // The above for a shard that drains every lane and waits for no room. True: block. False:
  // something arrived (the flag is cleared again), so poll instead. A wake-up may still be
  // pending on the fd when this returns false; it only costs one spurious loop pass later.
  bool prepare_to_sleep(shard_id to) noexcept {
    assert(index_of(to) < shards_);
    announce_sleep(to);
    for (unsigned lane = 0; lane < Lanes; ++lane) {
      if (has_mail(to, lane)) {
        woke(to);
        return false;
      }
    }
    return true;
  }
  // On to's thread, after the wait returned (woken or not).
  void woke(shard_id to) noexcept { wakeups_.woke(index_of(to)); }
  // Any thread, after a seq_cst publication of work that `to` checks for after announce_sleep
  // (the cluster link's events): wakes `to` if it sleeps. The argument is the one of send().
  void notify(shard_id to) noexcept { wakeups_.wake_if_sleeping(index_of(to)); }

 private:
  struct lane_ring {
    explicit lane_ring(std::size_t capacity) : ring(capacity) {}
    spsc_ring<Msg> ring;
    alignas(64) std::size_t sent_bytes = 0;  // sender-private
    std::size_t taken_seen = 0;              // sender-private: taken_bytes as last read
    std::atomic<bool> wants_room{false};     // set by the sender, cleared by the receiver
    alignas(64) std::atomic<std::size_t> taken_bytes{0};  // written by the receiver only
  };

  // Grouped by receiver so a drain walks adjacent entries.
  lane_ring& ring(shard_id from, shard_id to, unsigned lane) const noexcept {
    assert(index_of(from) < shards_ && index_of(to) < shards_ && lane < Lanes);
    return *rings_[(std::size_t{index_of(to)} * Lanes + lane) * shards_ + index_of(from)];
  }

  struct alignas(64) cursor {
    unsigned next = 0;  // receiver-private; own line so senders' reads stay unaffected
  };

  unsigned shards_;
  mailbox_wakeups wakeups_;
  std::vector<std::unique_ptr<lane_ring>> rings_;
  std::unique_ptr<cursor[]> cursors_;
};

}  // namespace shoal::gateway
