// The io_uring reactor backend (liburing): completion-based I/O for plain connections — a
// multishot accept per listener, a multishot receive per connection into a provided-buffer ring
// (an idle connection holds no receive buffer), sends queued as SQEs and submitted once per loop
// pass, eventfd wake-ups read in the ring, the ring fd registered with the shard's thread — and
// readiness through multishot poll, the reactor interface's add/modify/remove (connections do
// not use it: TLS runs over the same receives and sends as plain TCP, see tls_transport.hpp).
// After a burst, a quiet shard gives the receive buffers' pages back (trim_buffers()), and
// the sweep frees the storage a burst's completion backlog grew (trim_backlog()).
// One per shard, used only by that shard's thread.
//
// Tokens: the backend keeps the operation kind in bits 59..62 of each SQE's user_data, so the
// tokens it is given must leave those bits clear (the shard's are slot | generation << 32 with
// generations below 2^27, or bit 63 | index).
#pragma once

#include <liburing.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/reactor_backend.hpp"

namespace shoal::gateway {

struct uring_options {
  unsigned entries = 4096;      // submission queue; the completion queue is 4x
  unsigned buffers = 256;       // provided receive buffers per shard, a power of two
  unsigned buffer_size = 16384;
};

constexpr std::uint64_t uring_token_mask = ~(std::uint64_t{15} << 59);

// What uring_backend::trim_buffers() did: trimmed, or why it left the buffers alone.
enum class trim_status : std::uint8_t {
  trimmed,
  task_work_not_deferred,  // no IORING_SETUP_DEFER_TASKRUN: the kernel may write them any time
  completions_waiting,     // a completion not yet handed out may point into a buffer
  buffer_lent,             // a received buffer is not back yet (recycle())
  untouched,               // no receive since the last trim: nothing to give back
  busy,                    // as many receives in the interval as buffers: they would come back
  refused,                 // madvise failed (locked memory)
};
struct trim_result {
  trim_status status;
  std::size_t resident_bytes = 0;  // trimmed: the buffers' bytes that were resident (mincore)
};

class uring_backend final : public reactor_backend {
 public:
  // Creates the ring and its buffer ring; on failure (old kernel, io_uring disabled, out of
  // memory) returns null and says why in `error`.
  static std::unique_ptr<uring_backend> create(const uring_options& options, std::string& error);
  ~uring_backend() override;
  // On the thread that uses the ring, before its first wait(): enables a single-issuer ring.
  void start() noexcept;
  // IORING_SETUP_DEFER_TASKRUN took (Linux 6.1+): completions are produced in our own enter.
  bool defers_task_work() const noexcept { return deferred_taskrun_; }
  uring_backend(const uring_backend&) = delete;
  uring_backend& operator=(const uring_backend&) = delete;

  // reactor_backend: readiness through multishot poll, re-armed by the backend if it stops.
  io_status add(int fd, std::uint8_t interests, std::uint64_t token) noexcept override;
  io_status modify(int fd, std::uint8_t interests, std::uint64_t token) noexcept override;
  io_status remove(int fd) noexcept override;
  // Submits what was queued, waits for completions and translates them; events of kind
  // `received` point into a provided buffer, which the caller gives back with recycle().
  int wait(std::span<io_event> out, int timeout_ms) noexcept override;
  bool pending() const noexcept override;
  const char* name() const noexcept override { return "io_uring"; }

  // Accepts on `listener` until stopped; connections arrive as io_kind::accepted events.
  void accept(int listener, std::uint64_t token) noexcept;
  // Reads an eventfd in the ring, again after every completion: io_kind::counter events.
  void watch_counter(int fd, std::uint64_t token) noexcept;
  // Receives into provided buffers until stopped (io_kind::received; `more` false: re-arm).
  void receive(int fd, std::uint64_t token) noexcept;
  void stop_receiving(std::uint64_t token) noexcept;
  void stop_accepting(std::uint64_t token) noexcept;
  void recycle(std::uint16_t buffer) noexcept;
  // Called once a second (the shard's sweep), on the ring's thread outside any ring call: gives
  // the receive buffers' pages back to the kernel (MADV_DONTNEED) if that is safe and worth it —
  // task work deferred, no completion waiting, no buffer lent, a receive since the last trim,
  // fewer receives since the last call than there are buffers. Why that is safe and why that
  // threshold: uring_buffers.cpp.
  trim_result trim_buffers() noexcept;
  // Also from the sweep: frees the completion backlog's storage (what finish_sends() set aside
  // for wait()) once it is empty and a burst has grown it past a few pages.
  void trim_backlog() noexcept;
  // Queues one gather write; the iovecs are copied, the bytes they point at must stay put until
  // the io_kind::sent completion, which finish_sends() delivers before the pass ends.
  void send(int fd, std::uint64_t token, std::span<const iovec> iov) noexcept;
  // One io_kind::ready event with `writable` once the socket has room again.
  void wait_writable(int fd, std::uint64_t token) noexcept;
  // Cancels everything in flight on `fd`, then closes it, both in the ring (hard-linked, so the
  // descriptor number is not reused before the cancellation saw it).
  void close_socket(int fd) noexcept;
  // Closes a connection's socket, cancelling first only what is still in flight for it (its
  // multishot receive, its poll, its wait for room), each by its tag, which the kernel finds in
  // one bucket of its cancel table. close_socket's cancel by descriptor makes the kernel walk
  // every request of the ring instead: with thousands of connections closing at once that was
  // quadratic (a healthy echo waited ~1 s while 18,000 peers disconnected). For listeners, which
  // are few, close_socket stays.
  void close_connection(int fd, std::uint64_t token, bool receiving, bool waiting_writable) noexcept;
  // Submits the queued sends and waits until each has completed (they are non-blocking, so this
  // is bounded), handing their results to on_sent; other completions are kept for wait().
  using sent_handler = void (*)(void* self, std::uint64_t token, int result);
  void finish_sends(sent_handler on_sent, void* self) noexcept;

 private:
  enum class op : std::uint8_t { poll, accept, recv, send, pollout, counter, internal };
  struct deferred {
    std::uint64_t user_data;
    std::int32_t res;
    std::uint32_t flags;
  };
  struct counter_slot {
    int fd = -1;
    std::uint64_t token = 0;
    std::uint64_t value = 0;
  };

  uring_backend() = default;
  bool init(const uring_options& options, std::string& error);
  io_uring_sqe* sqe() noexcept;  // never null: submits to make room if the queue is full
  static std::uint64_t tag(op kind, std::uint64_t token) noexcept {
    return token | (static_cast<std::uint64_t>(kind) << 59);
  }
  void arm_poll(int fd, std::uint64_t token) noexcept;
  void arm_counter(counter_slot& slot) noexcept;
  // Fills `ev` from a completion; false for completions the caller does not see.
  bool translate(std::uint64_t user_data, std::int32_t res, std::uint32_t flags, io_event& ev) noexcept;

  io_uring ring_{};
  bool ring_ready_ = false;
  bool deferred_taskrun_ = false;  // IORING_SETUP_DEFER_TASKRUN: started disabled, see start()
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  std::uint8_t* buffer_memory_ = nullptr;
  std::size_t buffer_memory_bytes_ = 0;
  unsigned buffers_ = 0;
  unsigned buffer_size_ = 0;
  // Buffers handed out with a received event and not recycled yet; receives since the last
  // trim_buffers() call; whether any buffer was written since the last trim.
  unsigned lent_ = 0;
  std::uint64_t receives_ = 0;
  bool touched_ = false;
  // Sends queued this pass: their msghdrs and iovecs, valid until submitted (the kernel copies
  // them at submission: IORING_FEAT_SUBMIT_STABLE).
  std::vector<msghdr> msgs_;
  std::vector<iovec> iovs_;
  std::size_t msgs_used_ = 0;
  std::size_t iovs_used_ = 0;
  unsigned sends_in_flight_ = 0;
  std::vector<deferred> deferred_;  // grows with bursts; trim_backlog() gives it back
  std::size_t deferred_head_ = 0;
  std::array<counter_slot, 4> counters_{};
  std::unordered_map<std::uint64_t, int> polls_;     // readiness registrations: token -> fd
  std::unordered_map<int, std::uint64_t> poll_fds_;  // and fd -> token
};

}  // namespace shoal::gateway
