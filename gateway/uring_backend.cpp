// The io_uring backend (see uring_backend.hpp). Everything is queued as SQEs and submitted in one
// io_uring_enter per loop pass (wait()), except the sends of a pass, which finish_sends() submits
// and reaps before the pass ends so that no send is ever in flight while its connection queues
// more bytes or closes. Sends carry MSG_DONTWAIT: a full socket answers -EAGAIN (or a short
// count) at once instead of parking the request, and the connection waits for POLLOUT.
// Receive buffers are counted out (translate()) and back in (recycle(), in uring_buffers.cpp
// with the trimming), so that trim_buffers() knows when none is in the user's hands.
#include "gateway/uring_backend.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace shoal::gateway {

namespace {
constexpr unsigned buffer_group = 0;
constexpr std::size_t iov_arena = 65536;  // iovecs queued per submission (1 MiB)
constexpr unsigned poll_mask = POLLIN | POLLOUT | POLLRDHUP;

// Multishot receive (Linux 6.0) is the newest feature used; say so rather than fail later.
bool kernel_at_least(int major, int minor, std::string& release) {
  utsname u{};
  if (::uname(&u) != 0) return true;
  release = u.release;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return true;
  return ma > major || (ma == major && mi >= minor);
}

// Linux 6.6+ lets the administrator disable io_uring (kernel.io_uring_disabled: 1 unprivileged
// users outside kernel.io_uring_group, 2 everyone); name that cause of an EPERM when it is set.
std::string disabled_by_sysctl() {
  FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "r");
  if (!f) return {};
  int value = 0;
  const bool read = std::fscanf(f, "%d", &value) == 1;
  std::fclose(f);
  if (!read || value == 0) return {};
  return ", disabled by sysctl kernel.io_uring_disabled=" + std::to_string(value);
}
}  // namespace

std::unique_ptr<uring_backend> uring_backend::create(const uring_options& options, std::string& error) {
  std::unique_ptr<uring_backend> b(new uring_backend());
  if (!b->init(options, error)) return nullptr;
  return b;
}

bool uring_backend::init(const uring_options& options, std::string& error) {
  std::string release;
  if (!kernel_at_least(6, 0, release)) {
    error = "needs Linux 6.0 or later (multishot receive), this is " + release;
    return false;
  }
  if (options.buffers == 0 || (options.buffers & (options.buffers - 1)) != 0 || options.buffers > 32768) {
    error = "the receive buffer count must be a power of two up to 32768";
    return false;
  }
  // Newest first: task work deferred to our own io_uring_enter calls (Linux 6.1; the ring then
  // belongs to one thread, so it starts disabled and the shard's thread enables it), else
  // cooperative task work (5.19), else plain.
  const unsigned attempts[] = {
      IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
          IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
      IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_CQSIZE};
  io_uring_params params{};
  int rc = -EINVAL;
  for (unsigned flags : attempts) {
    params = io_uring_params{};
    params.flags = flags;
    params.cq_entries = options.entries * 4;
    rc = io_uring_queue_init_params(options.entries, &ring_, &params);
    if (rc != -EINVAL) break;
  }
  if (rc < 0) {
    error = std::string("io_uring_setup: ") + std::strerror(-rc);
    if (rc == -EPERM) error += disabled_by_sysctl();
    return false;
  }
  ring_ready_ = true;
  deferred_taskrun_ = (params.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
  const unsigned need = IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_EXT_ARG;
  if ((params.features & need) != need) {
    error = "the kernel's io_uring lacks NODROP, SUBMIT_STABLE or EXT_ARG";
    return false;
  }
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
    const int ops[] = {IORING_OP_ACCEPT, IORING_OP_RECV,   IORING_OP_SENDMSG,
                       IORING_OP_POLL_ADD, IORING_OP_READ, IORING_OP_ASYNC_CANCEL, IORING_OP_CLOSE};
    bool all = true;
    for (int o : ops) all = all && io_uring_opcode_supported(probe, o);
    io_uring_free_probe(probe);
    if (!all) {
      error = "the kernel's io_uring lacks an operation this backend uses";
      return false;
    }
  }
  // The provided-buffer ring and the buffers: mapped, not allocated, so only buffers that ever
  // held data become resident.
  buffers_ = options.buffers;
  buffer_size_ = options.buffer_size;
  buf_ring_bytes_ = sizeof(io_uring_buf) * buffers_;
  void* ring_mem = ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  buffer_memory_bytes_ = std::size_t{buffers_} * buffer_size_;
  void* buf_mem = ::mmap(nullptr, buffer_memory_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring_mem == MAP_FAILED || buf_mem == MAP_FAILED) {
    if (ring_mem != MAP_FAILED) ::munmap(ring_mem, buf_ring_bytes_);
    if (buf_mem != MAP_FAILED) ::munmap(buf_mem, buffer_memory_bytes_);
    error = "cannot map the receive buffers";
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  buffer_memory_ = static_cast<std::uint8_t*>(buf_mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_);
  reg.ring_entries = buffers_;
  reg.bgid = buffer_group;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) {
    error = std::string("io_uring_register_buf_ring: ") + std::strerror(-rc);
    return false;
  }
  const int mask = io_uring_buf_ring_mask(buffers_);
  for (unsigned i = 0; i < buffers_; ++i)
    io_uring_buf_ring_add(buf_ring_, buffer_memory_ + std::size_t{i} * buffer_size_, buffer_size_,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffers_));
  msgs_.resize(options.entries);
  iovs_.resize(iov_arena);
  return true;
}

void uring_backend::start() noexcept {
  // io_uring_enable_rings() is declared by liburing 2.3 but not exported by its library.
  if (deferred_taskrun_)
    ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  // The ring's own descriptor, registered with this thread (Linux 5.18): every io_uring_enter
  // then skips the file-table lookup and reference count of the ring fd. Registration belongs
  // to the calling thread, hence here and not in init(). Refused on older kernels: not needed.
  io_uring_register_ring_fd(&ring_);
}

uring_backend::~uring_backend() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_) ::munmap(buf_ring_, buf_ring_bytes_);
  if (buffer_memory_) ::munmap(buffer_memory_, buffer_memory_bytes_);
}

io_uring_sqe* uring_backend::sqe() noexcept {
  for (;;) {
    if (io_uring_sqe* s = io_uring_get_sqe(&ring_)) return s;
    io_uring_submit(&ring_);  // full: hand the queued work to the kernel now
    msgs_used_ = iovs_used_ = 0;
  }
}

io_status uring_backend::add(int fd, std::uint8_t interests, std::uint64_t token) noexcept {
  (void)interests;  // a poll watches both directions; the owner ignores what it does not need
  polls_[token] = fd;
  poll_fds_[fd] = token;
  arm_poll(fd, token);
  return {};
}

io_status uring_backend::modify(int fd, std::uint8_t interests, std::uint64_t token) noexcept {
  remove(fd);
  return add(fd, interests, token);
}

io_status uring_backend::remove(int fd) noexcept {
  const auto it = poll_fds_.find(fd);
  if (it == poll_fds_.end()) return {ENOENT};
  io_uring_sqe* s = sqe();
  io_uring_prep_poll_remove(s, tag(op::poll, it->second));
  io_uring_sqe_set_data64(s, tag(op::internal, 0));
  polls_.erase(it->second);
  poll_fds_.erase(it);
  return {};
}

void uring_backend::arm_poll(int fd, std::uint64_t token) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_poll_multishot(s, fd, poll_mask);
  io_uring_sqe_set_data64(s, tag(op::poll, token));
}

void uring_backend::accept(int listener, std::uint64_t token) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, tag(op::accept, token));
}

void uring_backend::stop_accepting(std::uint64_t token) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, tag(op::accept, token), 0);
  io_uring_sqe_set_data64(s, tag(op::internal, 0));
}

void uring_backend::watch_counter(int fd, std::uint64_t token) noexcept {
  for (counter_slot& slot : counters_) {
    if (slot.fd >= 0) continue;
    slot.fd = fd;
    slot.token = token;
    arm_counter(slot);
    return;
  }
}

void uring_backend::arm_counter(counter_slot& slot) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, slot.fd, &slot.value, sizeof slot.value, 0);
  io_uring_sqe_set_data64(s, tag(op::counter, slot.token));
}

void uring_backend::receive(int fd, std::uint64_t token) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = buffer_group;
  io_uring_sqe_set_data64(s, tag(op::recv, token));
}

void uring_backend::stop_receiving(std::uint64_t token) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, tag(op::recv, token), 0);
  io_uring_sqe_set_data64(s, tag(op::internal, 0));
}

void uring_backend::send(int fd, std::uint64_t token, std::span<const iovec> iov) noexcept {
  ++sends_in_flight_;
  if (iov.size() == 1) {  // one frame (an echo, a lone delivery): a plain send, no msghdr to build
    io_uring_sqe* s = sqe();  // or for the kernel to copy in and walk
    io_uring_prep_send(s, fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    io_uring_sqe_set_data64(s, tag(op::send, token));
    return;
  }
  if (msgs_used_ == msgs_.size() || iovs_used_ + iov.size() > iovs_.size()) {
    io_uring_submit(&ring_);
    msgs_used_ = iovs_used_ = 0;
  }
  iovec* copy = iovs_.data() + iovs_used_;
  std::memcpy(copy, iov.data(), iov.size_bytes());
  iovs_used_ += iov.size();
  msghdr& msg = msgs_[msgs_used_++];
  msg = msghdr{};
  msg.msg_iov = copy;
  msg.msg_iovlen = iov.size();
  io_uring_sqe* s = sqe();
  io_uring_prep_sendmsg(s, fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  io_uring_sqe_set_data64(s, tag(op::send, token));
}

void uring_backend::wait_writable(int fd, std::uint64_t token) noexcept {
  io_uring_sqe* s = sqe();
  io_uring_prep_poll_add(s, fd, POLLOUT);
  io_uring_sqe_set_data64(s, tag(op::pollout, token));
}

void uring_backend::close_socket(int fd) noexcept {
  if (const auto it = poll_fds_.find(fd); it != poll_fds_.end()) {
    polls_.erase(it->second);
    poll_fds_.erase(it);
  }
  if (io_uring_sq_space_left(&ring_) < 2) {
    io_uring_submit(&ring_);
    msgs_used_ = iovs_used_ = 0;
  }
  io_uring_sqe* cancel = sqe();
  io_uring_prep_cancel_fd(cancel, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(cancel, tag(op::internal, 0));
  cancel->flags |= IOSQE_IO_HARDLINK;  // close even when nothing was in flight (-ENOENT)
  io_uring_sqe* close = sqe();
  io_uring_prep_close(close, fd);
  io_uring_sqe_set_data64(close, tag(op::internal, 0));
}

void uring_backend::close_connection(int fd, std::uint64_t token, bool receiving,
                                     bool waiting_writable) noexcept {
  bool polled = false;
  if (const auto it = poll_fds_.find(fd); it != poll_fds_.end()) {
    polled = true;
    polls_.erase(it->second);
    poll_fds_.erase(it);
  }
  const unsigned chain = 1u + (receiving ? 1u : 0u) + (polled ? 1u : 0u) + (waiting_writable ? 1u : 0u);
  if (io_uring_sq_space_left(&ring_) < chain) {  // a link must not be split across submissions
    io_uring_submit(&ring_);
    msgs_used_ = iovs_used_ = 0;
  }
  // Each cancel is hard-linked to what follows, so the close comes after them whether they found
  // their request or not (-ENOENT: it had just ended). The generic cancel for the poll too: a
  // hard-linked POLL_REMOVE left a TLS connection's multishot poll, and so its socket, alive
  // (plain HTTP sent to the TLS port was never answered by a close under ASan). CANCEL_ALL: any
  // request with that tag, should there ever be two.
  const auto cancel = [&](op kind) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, tag(kind, token), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(s, tag(op::internal, 0));
    s->flags |= IOSQE_IO_HARDLINK;
  };
  if (receiving) cancel(op::recv);
  if (polled) cancel(op::poll);
  if (waiting_writable) cancel(op::pollout);
  io_uring_sqe* close = sqe();
  io_uring_prep_close(close, fd);
  io_uring_sqe_set_data64(close, tag(op::internal, 0));
}

void uring_backend::finish_sends(sent_handler on_sent, void* self) noexcept {
  if (sends_in_flight_ == 0) return;
  io_uring_submit(&ring_);
  msgs_used_ = iovs_used_ = 0;
  while (sends_in_flight_ > 0) {
    // Every completion there is, in one walk and one update of the queue's head (a peek and a
    // head update per completion: 44 instead of 32 instructions per send in the io_uring echo).
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const std::uint64_t user_data = io_uring_cqe_get_data64(cqe);
      if (static_cast<op>((user_data >> 59) & 15) == op::send) {
        --sends_in_flight_;
        on_sent(self, user_data & uring_token_mask, cqe->res);
      } else {
        deferred_.push_back(deferred{user_data, cqe->res, cqe->flags});
      }
    }
    io_uring_cq_advance(&ring_, seen);
    if (seen != 0) continue;
    const int rc = io_uring_wait_cqe(&ring_, &cqe);  // a non-blocking send finishing elsewhere
    if (rc != 0 && rc != -EINTR) return;  // the ring failed: nothing sensible is left to wait for
  }
}

bool uring_backend::pending() const noexcept {
  return deferred_head_ < deferred_.size() || io_uring_cq_ready(&ring_) > 0;
}

bool uring_backend::translate(std::uint64_t user_data, std::int32_t res, std::uint32_t flags,
                              io_event& ev) noexcept {
  const op kind = static_cast<op>((user_data >> 59) & 15);
  ev = io_event{};
  ev.token = user_data & uring_token_mask;
  ev.result = res;
  ev.more = (flags & IORING_CQE_F_MORE) != 0;
  switch (kind) {
    case op::internal:
      return false;
    case op::poll: {
      const auto it = polls_.find(ev.token);
      if (it == polls_.end()) return false;  // removed
      if (res < 0) {
        if (res != -ECANCELED) arm_poll(it->second, ev.token);
        return false;
      }
      if (!ev.more) arm_poll(it->second, ev.token);  // the kernel stopped it (overflow): again
      const auto mask = static_cast<unsigned>(res);
      ev.readable = (mask & (POLLIN | POLLRDHUP)) != 0;
      ev.writable = (mask & POLLOUT) != 0;
      ev.hangup = (mask & (POLLERR | POLLHUP)) != 0;
      return true;
    }
    case op::pollout:
      if (res == -ECANCELED) return false;
      ev.writable = true;
      ev.hangup = res < 0 || (static_cast<unsigned>(res) & (POLLERR | POLLHUP)) != 0;
      return true;
    case op::accept:
      ev.kind = io_kind::accepted;
      return true;
    case op::recv:
      ev.kind = io_kind::received;
      if (flags & IORING_CQE_F_BUFFER) {
        ++lent_;  // back with recycle(), below or by the caller
        ++receives_;
        touched_ = true;
        ev.buffer = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        ev.data = buffer_memory_ + std::size_t{ev.buffer} * buffer_size_;
        if (res <= 0) {  // a buffer with no data in it: straight back
          recycle(ev.buffer);
          ev.data = nullptr;
        }
      }
      return true;
    case op::send:
      ev.kind = io_kind::sent;
      return true;
    case op::counter:
      for (counter_slot& slot : counters_) {
        if (slot.fd < 0 || slot.token != ev.token) continue;
        arm_counter(slot);
        ev.kind = io_kind::counter;
        return true;
      }
      return false;
  }
  return false;
}

int uring_backend::wait(std::span<io_event> out, int timeout_ms) noexcept {
  std::size_t n = 0;
  while (n < out.size() && deferred_head_ < deferred_.size()) {
    const deferred& d = deferred_[deferred_head_++];
    if (translate(d.user_data, d.res, d.flags, out[n])) ++n;
  }
  if (deferred_head_ == deferred_.size()) {
    deferred_.clear();
    deferred_head_ = 0;
  }
  if (n > 0 || timeout_ms == 0) {
    // With deferred task work, completions only appear when we ask the kernel for them.
    if (deferred_taskrun_) io_uring_submit_and_get_events(&ring_);
    else if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
  } else {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{};
    __kernel_timespec* tsp = nullptr;
    if (timeout_ms > 0) {
      ts.tv_sec = timeout_ms / 1000;
      ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
      tsp = &ts;
    }
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);  // -ETIME, -EINTR: fine
  }
  msgs_used_ = iovs_used_ = 0;
  while (n < out.size()) {
    io_uring_cqe* cqes[256];
    const std::size_t want = std::min<std::size_t>(256, out.size() - n);
    const unsigned got = io_uring_peek_batch_cqe(&ring_, cqes, static_cast<unsigned>(want));
    if (got == 0) break;
    for (unsigned i = 0; i < got; ++i)
      if (translate(io_uring_cqe_get_data64(cqes[i]), cqes[i]->res, cqes[i]->flags, out[n])) ++n;
    io_uring_cq_advance(&ring_, got);
  }
  return static_cast<int>(n);
}

}  // namespace shoal::gateway
