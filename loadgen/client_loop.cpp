// epoll loop of one worker thread; see client_loop.hpp. Edge-triggered: each client reads until
// EAGAIN and writes until EAGAIN, then waits for the next edge.
#include "loadgen/client_loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace shoal::loadgen {

client_loop::client_loop() : scratch_(256 * 1024) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    std::perror("shoal-loadgen: epoll_create1");
    std::abort();
  }
}

client_loop::~client_loop() {
  clients_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

std::uint64_t client_loop::connect_all(const std::function<const ws_target&(std::uint32_t)>& target_of,
                                       std::uint64_t count,
                                       const std::function<std::string_view(std::uint32_t)>& token_of) {
  std::uint64_t failed = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto id = static_cast<std::uint32_t>(clients_.size());
    failed += connect_one(target_of(id), token_of ? token_of(id) : std::string_view{}) ? 0 : 1;
  }
  return failed;
}

bool client_loop::connect_one(const ws_target& target, std::string_view token) {
  std::string error;
  auto c = std::make_unique<ws_client>(static_cast<std::uint32_t>(clients_.size()), target, token);
  const bool ok = c->start(epoll_fd_, error);
  if (!ok) {
    if (failed_at_start_.empty()) std::fprintf(stderr, "shoal-loadgen: %s\n", error.c_str());
    failed_at_start_.push_back(c->id());
  }
  clients_.push_back(std::move(c));
  return ok;
}

void client_loop::poll(std::int64_t timeout_ns, ws_handler& h) {
  for (const std::uint32_t id : failed_at_start_) h.on_closed(*clients_[id], "could not connect");
  failed_at_start_.clear();
  std::array<epoll_event, 256> events{};
  if (timeout_ns < 0) timeout_ns = 0;
  timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
  const int n = ::epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
  for (int i = 0; i < n; ++i) {
    ws_client& c = *clients_[static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64)];
    c.on_io(events[static_cast<std::size_t>(i)].events, h, encoder_, scratch_);
    if (c.queued_bytes() > 0) pending_.push_back(c.id());
  }
  flush(h);
}

void client_loop::send(ws_client& c, core::opcode op, std::span<const std::uint8_t> payload) {
  if (c.send(encoder_, op, payload)) pending_.push_back(c.id());
}

void client_loop::send_text(ws_client& c, std::string_view text) {
  if (c.send_text(encoder_, text)) pending_.push_back(c.id());
}

void client_loop::flush(ws_handler& h) {
  // A client may be listed twice (queued in on_io and again by send); flushing twice is harmless.
  for (const std::uint32_t id : pending_) clients_[id]->flush(h);
  pending_.clear();
}

void client_loop::shutdown_all() {
  for (auto& c : clients_) {
    const char* waiting = nullptr;
    switch (c->state()) {
      case client_state::connecting: waiting = "unanswered: TCP connect"; break;
      case client_state::handshaking: waiting = "unanswered: upgrade"; break;
      case client_state::authenticating: waiting = "unanswered: auth"; break;
      case client_state::closed:
        if (!c->ever_opened()) ++not_opened_[std::string(c->failure().empty() ? "could not connect" : c->failure())];
        break;
      default: break;
    }
    if (waiting) {
      ++not_opened_[waiting];
      ++unanswered_;
    }
    c->shutdown(encoder_);
  }
}

}  // namespace shoal::loadgen
