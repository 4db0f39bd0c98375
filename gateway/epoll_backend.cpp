// The epoll reactor backend: one epoll instance per shard, edge-triggered registrations made
// once per connection (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET), so steady-state traffic costs
// no epoll_ctl calls. Used only by its shard's thread.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "gateway/reactor_backend.hpp"

namespace shoal::gateway {
namespace {

class epoll_backend final : public reactor_backend {
 public:
  explicit epoll_backend(int epfd) noexcept : epfd_(epfd) {}
  ~epoll_backend() override { ::close(epfd_); }
  epoll_backend(const epoll_backend&) = delete;
  epoll_backend& operator=(const epoll_backend&) = delete;

  io_status add(int fd, std::uint8_t interests, std::uint64_t token) noexcept override {
    return control(EPOLL_CTL_ADD, fd, interests, token);
  }
  io_status modify(int fd, std::uint8_t interests, std::uint64_t token) noexcept override {
    return control(EPOLL_CTL_MOD, fd, interests, token);
  }
  io_status remove(int fd) noexcept override {
    if (::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) != 0) return {errno};
    return {};
  }

  int wait(std::span<io_event> out, int timeout_ms) noexcept override {
    const int cap = static_cast<int>(std::min<std::size_t>(out.size(), events_.size()));
    int n;
    do {
      n = ::epoll_wait(epfd_, events_.data(), cap, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return 0;
    for (int i = 0; i < n; ++i) {
      const std::uint32_t ev = events_[static_cast<std::size_t>(i)].events;
      out[static_cast<std::size_t>(i)] = io_event{
          events_[static_cast<std::size_t>(i)].data.u64, (ev & (EPOLLIN | EPOLLRDHUP)) != 0,
          (ev & EPOLLOUT) != 0, (ev & (EPOLLERR | EPOLLHUP)) != 0};
    }
    return n;
  }

  const char* name() const noexcept override { return "epoll"; }

 private:
  io_status control(int op, int fd, std::uint8_t interests, std::uint64_t token) noexcept {
    epoll_event ev{};
    ev.events = EPOLLET | EPOLLRDHUP;
    if (interests & want_read) ev.events |= EPOLLIN;
    if (interests & want_write) ev.events |= EPOLLOUT;
    ev.data.u64 = token;
    if (::epoll_ctl(epfd_, op, fd, &ev) != 0) return {errno};
    return {};
  }

  int epfd_;
  std::array<epoll_event, 512> events_{};
};

}  // namespace

std::unique_ptr<reactor_backend> make_epoll_backend(std::string& error) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    error = std::string("epoll_create1: ") + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<epoll_backend>(fd);
}

}  // namespace shoal::gateway
