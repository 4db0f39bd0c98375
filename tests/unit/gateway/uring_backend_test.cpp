// Tests for uring_backend's receive-buffer trim, on a real ring and socket pairs: a trim gives
// the buffers' pages back (they read as zeros), data received afterwards is intact, and a trim
// is refused while a buffer is lent, while a completion waits in the CQ, and on a busy shard.
// Skipped where io_uring is unavailable; without DEFER_TASKRUN a trim must always be refused.
#include "gateway/uring_backend.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shoal::gateway {
namespace {

using std::chrono::steady_clock;

constexpr unsigned buffers = 16;
constexpr unsigned buffer_size = 8192;
const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

class UringBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    uring_options options;
    options.entries = 64;
    options.buffers = buffers;
    options.buffer_size = buffer_size;
    std::string error;
    backend_ = uring_backend::create(options, error);
    if (!backend_) GTEST_SKIP() << "io_uring unavailable: " << error;
    backend_->start();
    if (!backend_->defers_task_work()) {
      EXPECT_EQ(backend_->trim_buffers().status, trim_status::task_work_not_deferred);
      GTEST_SKIP() << "no IORING_SETUP_DEFER_TASKRUN: trims are refused, nothing more to test";
    }
  }

  void TearDown() override {
    backend_.reset();
    for (const auto& p : pairs_) {
      ::close(p[0]);
      ::close(p[1]);
    }
  }

  // A connected pair; the backend receives on [0] with `token`, the test writes to [1].
  std::array<int, 2> receiving_pair(std::uint64_t token) {
    std::array<int, 2> p{};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p.data()), 0);
    pairs_.push_back(p);
    backend_->receive(p[0], token);
    return p;
  }

  static void send_all(int fd, const std::string& bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
      ASSERT_GT(n, 0);
      at += static_cast<std::size_t>(n);
    }
  }

  // The next received event carrying data, taken alone from the CQ (bounded wait); re-arms a
  // receive that stopped.
  io_event next_received(int fd, std::uint64_t token) {
    std::array<io_event, 1> out;
    const auto deadline = steady_clock::now() + std::chrono::seconds(5);
    while (steady_clock::now() < deadline) {
      if (backend_->wait(out, 100) != 1) continue;
      const io_event& ev = out[0];
      if (ev.kind != io_kind::received || ev.token != token) continue;
      if (!ev.more) backend_->receive(fd, token);
      if (ev.data) return ev;
    }
    ADD_FAILURE() << "no receive completed within 5 s";
    return {};
  }

  // Reads `want` bytes through the backend, recycling each buffer once copied.
  std::string receive_bytes(int fd, std::uint64_t token, std::size_t want) {
    std::string got;
    while (got.size() < want) {
      const io_event ev = next_received(fd, token);
      if (!ev.data) break;
      got.append(reinterpret_cast<const char*>(ev.data), static_cast<std::size_t>(ev.result));
      backend_->recycle(ev.buffer);
    }
    return got;
  }

  static std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (char& c : s) {
      x = x * 1664525u + 1013904223u;
      c = static_cast<char>(x >> 24);
    }
    return s;
  }

  std::unique_ptr<uring_backend> backend_;
  std::vector<std::array<int, 2>> pairs_;
};

TEST_F(UringBackend, TrimGivesPagesBackAndLaterReceivesAreIntact) {
  EXPECT_EQ(backend_->trim_buffers().status, trim_status::untouched);  // never written
  const auto p = receiving_pair(1);
  // Three receives, one after another: three buffers, two pages of each written.
  const std::uint8_t* first = nullptr;
  for (unsigned i = 0; i < 3; ++i) {
    const std::string sent = pattern(5000, i);
    send_all(p[1], sent);
    const io_event ev = next_received(p[0], 1);
    ASSERT_NE(ev.data, nullptr);
    ASSERT_EQ(ev.result, 5000);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ev.data), 5000), sent);
    if (i == 0) first = ev.data;
    backend_->recycle(ev.buffer);
  }
  const trim_result trim = backend_->trim_buffers();
  ASSERT_EQ(trim.status, trim_status::trimmed);
  EXPECT_GE(trim.resident_bytes, 3 * ((5000 + page - 1) / page) * page);
  // MADV_DONTNEED on a private anonymous mapping: the next read sees zero-filled pages.
  EXPECT_TRUE(std::all_of(first, first + 5000, [](std::uint8_t b) { return b == 0; }));
  EXPECT_EQ(backend_->trim_buffers().status, trim_status::untouched);  // nothing written since

  // Into trimmed buffers and ones never used: every byte arrives, in order.
  std::string sent;
  for (unsigned i = 0; i < 12; ++i) sent += pattern(3000 + 977 * i, 100 + i);
  send_all(p[1], sent);
  EXPECT_EQ(receive_bytes(p[0], 1, sent.size()), sent);
  backend_->trim_buffers();  // a new interval
  for (unsigned round = 0; round < 3; ++round) {  // trimmed again between messages
    const std::string more = pattern(buffer_size, 200 + round);
    send_all(p[1], more);
    EXPECT_EQ(receive_bytes(p[0], 1, more.size()), more);
    EXPECT_EQ(backend_->trim_buffers().status, trim_status::trimmed);
  }
}

TEST_F(UringBackend, TrimRefusedWhileABufferIsLent) {
  const auto p = receiving_pair(1);
  send_all(p[1], "hello");
  const io_event ev = next_received(p[0], 1);
  ASSERT_NE(ev.data, nullptr);
  EXPECT_EQ(backend_->trim_buffers().status, trim_status::buffer_lent);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ev.data), 5), "hello");  // untouched
  backend_->recycle(ev.buffer);
  EXPECT_EQ(backend_->trim_buffers().status, trim_status::trimmed);
}

TEST_F(UringBackend, TrimRefusedWhileACompletionWaits) {
  const auto a = receiving_pair(1);
  const auto b = receiving_pair(2);
  backend_->wait({}, 0);  // submits both receives
  send_all(a[1], "first");
  send_all(b[1], "second");
  // One event handed out; the other receive's completion stays in the CQ.
  std::array<io_event, 1> one;
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (steady_clock::now() < deadline)
    if (backend_->wait(one, 100) == 1 && one[0].kind == io_kind::received && one[0].data) break;
  const io_event ev = one[0];
  ASSERT_NE(ev.data, nullptr);
  backend_->recycle(ev.buffer);
  while (!backend_->pending() && steady_clock::now() < deadline)
    backend_->wait({}, 0);  // runs the task work, reaps nothing
  ASSERT_TRUE(backend_->pending());
  EXPECT_EQ(backend_->trim_buffers().status, trim_status::completions_waiting);
  const std::uint64_t other = ev.token == 1 ? 2 : 1;
  const io_event second = next_received(other == 1 ? a[0] : b[0], other);
  ASSERT_NE(second.data, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(second.data), static_cast<std::size_t>(second.result)),
            other == 1 ? "first" : "second");
  backend_->recycle(second.buffer);
  EXPECT_EQ(backend_->trim_buffers().status, trim_status::trimmed);
}

TEST_F(UringBackend, TrimWaitsForAQuietInterval) {
  const auto p = receiving_pair(1);
  for (unsigned i = 0; i < buffers; ++i) {  // as many receives as buffers: once around the ring
    send_all(p[1], "x");
    EXPECT_EQ(receive_bytes(p[0], 1, 1), "x");
  }
  EXPECT_EQ(backend_->trim_buffers().status, trim_status::busy);
  const trim_result quiet = backend_->trim_buffers();  // no receive since the last call
  EXPECT_EQ(quiet.status, trim_status::trimmed);
  EXPECT_EQ(quiet.resident_bytes, buffers * page);  // the FIFO ring: the first page of each
}

}  // namespace
}  // namespace shoal::gateway
