// Benchmarks of the io_uring features issue 6 asks to use "where measurement shows a gain", each
// beside its baseline in the same run, on a loopback TCP connection (what these machines have):
//   BM_UringEnter_{Plain,RegisteredRingFd}: one NOP submitted and reaped per io_uring_enter, with
//     and without a registered ring descriptor (the fixed cost of each of the gateway's enters).
//   BM_UringSend_{Syscall,Plain,FixedFile,ZeroCopy}/size: one send of `size` bytes per iteration
//     through send(2), IORING_OP_SEND on a plain descriptor, on a registered (fixed) file, and
//     IORING_OP_SEND_ZC (waiting for its buffer-release notification, as a server must before it
//     reuses or frees the bytes).
// A reader thread on the other core drains the connection. Single ring, owned by the bench thread.
#include <benchmark/benchmark.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "uring_send_bench: %s: %s\n", what, std::strerror(err));
  std::abort();
}

// A connected loopback TCP pair whose receiving end a thread drains until the pair is destroyed.
class loopback_pair {
 public:
  loopback_pair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener, 1) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      die("listen", errno);
    sender_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sender_ < 0 || ::connect(sender_, reinterpret_cast<sockaddr*>(&addr), len) != 0) die("connect", errno);
    receiver_ = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (receiver_ < 0) die("accept", errno);
    ::close(listener);
    const int one = 1;
    ::setsockopt(sender_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    reader_ = std::thread([this] {
      std::vector<char> sink(1 << 20);
      while (::recv(receiver_, sink.data(), sink.size(), 0) > 0) {
      }
    });
  }
  ~loopback_pair() {
    ::shutdown(sender_, SHUT_RDWR);
    reader_.join();
    ::close(sender_);
    ::close(receiver_);
  }
  loopback_pair(const loopback_pair&) = delete;
  loopback_pair& operator=(const loopback_pair&) = delete;
  int sender() const { return sender_; }

 private:
  int sender_ = -1;
  int receiver_ = -1;
  std::thread reader_;
};

class ring {
 public:
  ring() {
    if (const int rc = io_uring_queue_init(64, &ring_, 0); rc < 0) die("io_uring_queue_init", -rc);
  }
  ~ring() { io_uring_queue_exit(&ring_); }
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;
  io_uring* get() { return &ring_; }
  // Submits what is queued and reaps `n` completions, failing loudly on an error result.
  void submit_and_reap(unsigned n, std::size_t expect) {
    io_uring_submit_and_wait(&ring_, n);
    for (unsigned i = 0; i < n; ++i) {
      io_uring_cqe* cqe = nullptr;
      if (const int rc = io_uring_wait_cqe(&ring_, &cqe); rc < 0) die("io_uring_wait_cqe", -rc);
      if (cqe->res < 0) die("completion", -cqe->res);
      if (!(cqe->flags & IORING_CQE_F_NOTIF) && static_cast<std::size_t>(cqe->res) != expect)
        die("short send", EIO);
      io_uring_cqe_seen(&ring_, cqe);
    }
  }

 private:
  io_uring ring_{};
};

void BM_UringEnter_Plain(benchmark::State& state) {
  ring r;
  for (auto _ : state) {
    io_uring_prep_nop(io_uring_get_sqe(r.get()));
    r.submit_and_reap(1, 0);
  }
}
BENCHMARK(BM_UringEnter_Plain);

void BM_UringEnter_RegisteredRingFd(benchmark::State& state) {
  ring r;
  if (const int rc = io_uring_register_ring_fd(r.get()); rc < 0) {
    state.SkipWithError("io_uring_register_ring_fd refused");
    return;
  }
  for (auto _ : state) {
    io_uring_prep_nop(io_uring_get_sqe(r.get()));
    r.submit_and_reap(1, 0);
  }
}
BENCHMARK(BM_UringEnter_RegisteredRingFd);

constexpr long min_size = 64;
constexpr long max_size = 1 << 20;

void set_bytes(benchmark::State& state, std::size_t size) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(size));
}

void BM_UringSend_Syscall(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  loopback_pair pair;
  std::vector<char> payload(size, 'x');
  for (auto _ : state) {
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(pair.sender(), payload.data() + done, size - done, MSG_NOSIGNAL);
      if (n < 0) die("send", errno);
      done += static_cast<std::size_t>(n);
    }
  }
  set_bytes(state, size);
}
BENCHMARK(BM_UringSend_Syscall)->RangeMultiplier(16)->Range(min_size, max_size);

// kind: 0 plain descriptor, 1 fixed file, 2 zero copy (one result and one notification CQE).
void uring_send(benchmark::State& state, int kind) {
  const auto size = static_cast<std::size_t>(state.range(0));
  loopback_pair pair;
  ring r;
  std::vector<char> payload(size, 'x');
  int fd = pair.sender();
  if (kind == 1) {
    if (const int rc = io_uring_register_files(r.get(), &fd, 1); rc < 0) die("io_uring_register_files", -rc);
    fd = 0;
  }
  for (auto _ : state) {
    io_uring_sqe* s = io_uring_get_sqe(r.get());
    if (kind == 2) io_uring_prep_send_zc(s, fd, payload.data(), size, MSG_NOSIGNAL | MSG_WAITALL, 0);
    else io_uring_prep_send(s, fd, payload.data(), size, MSG_NOSIGNAL | MSG_WAITALL);
    if (kind == 1) s->flags |= IOSQE_FIXED_FILE;
    r.submit_and_reap(kind == 2 ? 2 : 1, size);
  }
  set_bytes(state, size);
}

void BM_UringSend_Plain(benchmark::State& state) { uring_send(state, 0); }
void BM_UringSend_FixedFile(benchmark::State& state) { uring_send(state, 1); }
void BM_UringSend_ZeroCopy(benchmark::State& state) { uring_send(state, 2); }
BENCHMARK(BM_UringSend_Plain)->RangeMultiplier(16)->Range(min_size, max_size);
BENCHMARK(BM_UringSend_FixedFile)->RangeMultiplier(16)->Range(min_size, max_size);
BENCHMARK(BM_UringSend_ZeroCopy)->RangeMultiplier(16)->Range(min_size, max_size);

}  // namespace
