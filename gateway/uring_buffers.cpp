// The io_uring backend's receive buffers after they are set up (uring_backend.cpp): giving one
// back to the ring, and giving their pages back to the system when the shard is quiet after a
// burst (trim_buffers, with the argument for why that is safe) along with the completion backlog
// the burst grew (trim_backlog). Shard-owned, like the backend.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>

#include "gateway/uring_backend.hpp"

namespace shoal::gateway {

void uring_backend::recycle(std::uint16_t buffer) noexcept {
  assert(lent_ > 0 && "recycle() of a buffer that was not handed out");
  --lent_;
  io_uring_buf_ring_add(buf_ring_, buffer_memory_ + std::size_t{buffer} * buffer_size_, buffer_size_,
                        buffer, io_uring_buf_ring_mask(buffers_), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

// Trimming: with the ring FIFO, multishot receives walk all the buffers in turn, so even small
// requests fault in the first page of every buffer, and a burst leaves buffers × 4 KiB (1 MiB
// per shard by default) resident for good. MADV_DONTNEED gives those pages back; the next write
// into a buffer, by the kernel, faults in a zeroed page. Discarding the contents is only safe
// for buffers whose contents nobody needs and that nobody is writing:
//  - Not being written. With IORING_SETUP_DEFER_TASKRUN, io_uring_setup(2): the kernel "should
//    defer work until an io_uring_enter(2) call with the IORING_ENTER_GETEVENTS flag set", and
//    that call must come from the thread that submits (SINGLE_ISSUER). A multishot receive that
//    finds its socket empty arms a poll; the wake-up queues task work on the ring, which runs,
//    and copies the data into a buffer, only in this thread's io_uring_enter (or at submission,
//    inline, in the same call). io-wq workers never run a multishot request on such a ring
//    (kernel commit e0e4ab52d170, "io_uring: refactor DEFER_TASKRUN multishot checks", which
//    re-arms the poll instead; before it each opcode refused, 17add5cea2bb). So the buffers in
//    the ring are written only inside this thread's io_uring_enter calls, and each write's
//    completion is in the CQ (or, the CQ full, the overflow list) when that call returns. With
//    no MSG_WAITALL, no receive keeps a half-filled buffer across calls. Without DEFER_TASKRUN,
//    task work runs at any return to user space (and so could run between the checks below and
//    the madvise) or on io-wq threads: never trim then.
//  - Contents not needed. A buffer holding received bytes is either in a completion not handed
//    out yet (the CQ, the kernel's overflow list, or deferred_ after finish_sends()) or handed
//    out and not recycled (lent_): both refuse the trim. Every other buffer is in the ring,
//    empty as far as we are concerned. (The shard recycles a buffer as soon as the connection
//    has seen its event, which copies what it keeps, so none is lent at the sweep; refusing
//    rather than trimming around a lent buffer keeps this simple.)
// So a check of both, with nothing here entering the ring, finds every buffer with data in it.
// The shard calls this from its once-a-second sweep.
//
// Worth it: fewer receives since the last call than there are buffers. A shard receiving more
// than that goes around the whole ring at least once a second, so every page given back would
// be faulted in again within the next second: trimming it buys nothing and costs a fault per
// page. Below it, the cost of a trim is bounded by what the quiet shard does: a fault (a zeroed
// page) per page a receive fills, until the next trim, next to the receive's own kernel work.
trim_result uring_backend::trim_buffers() noexcept {
  const std::uint64_t receives = receives_;
  receives_ = 0;
  if (!deferred_taskrun_) return {trim_status::task_work_not_deferred};
  if (pending() || io_uring_cq_has_overflow(&ring_)) return {trim_status::completions_waiting};
  if (lent_ != 0) return {trim_status::buffer_lent};
  if (!touched_) return {trim_status::untouched};
  if (receives >= buffers_) return {trim_status::busy};
  trim_result result{trim_status::trimmed};
  // What was resident, for the metrics: a page table walk, once per trim.
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  unsigned char present[256];
  for (std::size_t at = 0; at < buffer_memory_bytes_;) {
    const std::size_t len = std::min(buffer_memory_bytes_ - at, sizeof present * page);
    if (::mincore(buffer_memory_ + at, len, present) != 0) break;
    for (std::size_t i = 0; i < (len + page - 1) / page; ++i)
      if (present[i] & 1) result.resident_bytes += page;
    at += len;
  }
  touched_ = false;
  if (::madvise(buffer_memory_, buffer_memory_bytes_, MADV_DONTNEED) != 0)
    return {trim_status::refused};  // EINVAL: locked pages (mlockall); again after more receives
  return result;
}

// While finish_sends() waits for the pass's sends, every other completion the kernel posts is
// set aside here; during a burst of thousands of connections that is thousands of entries a pass
// (32,768 seen during bench/idle_rss.py's handshakes: 512 KiB, 50 B per connection at 10,000),
// and clear() keeps the capacity. Freed at the sweep when empty: a busy shard reallocates it at
// most once a second.
void uring_backend::trim_backlog() noexcept {
  constexpr std::size_t keep = 1024;  // entries (16 KiB): what ordinary passes use stays
  if (!deferred_.empty() || deferred_.capacity() <= keep) return;
  std::vector<deferred>().swap(deferred_);
  deferred_head_ = 0;
}

}  // namespace shoal::gateway
