// The reactor backend interface: a small readiness API (add / modify / remove / wait) in the
// manner of redis's ae, shared by the epoll and io_uring backends; the io_uring backend adds
// completion-based operations (uring_backend.hpp) whose results arrive as events of other kinds.
// A backend belongs to one shard and is used only by that shard's thread. errno becomes an
// io_status value or an event's negative result here, once; nothing above this layer reads errno.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace shoal::gateway {

// What a registered descriptor is watched for. Registrations are edge-triggered: a backend
// reports a transition once, and the owner reads or writes until EAGAIN before waiting again.
enum interest : std::uint8_t { want_read = 1, want_write = 2 };

// What an event reports: readiness (both backends), or the completion of an io_uring operation.
enum class io_kind : std::uint8_t {
  ready,     // readable / writable / hangup
  accepted,  // result: the new descriptor, or -errno
  received,  // result: bytes at `data` (in provided buffer `buffer`), 0 at EOF, or -errno
  sent,      // result: bytes written, or -errno
  counter,   // an eventfd fired; its counter was already read
};

struct io_event {
  std::uint64_t token = 0;   // what the owner registered the descriptor with
  bool readable = false;
  bool writable = false;
  bool hangup = false;       // peer closed or the socket is in error; read to find out which
  io_kind kind = io_kind::ready;
  bool more = true;          // completions: false once a multishot operation has stopped
  std::uint16_t buffer = 0;  // received: the provided buffer to give back
  std::int32_t result = 0;
  const std::uint8_t* data = nullptr;
};

struct io_status {
  int error = 0;             // errno value, 0 on success
  explicit operator bool() const noexcept { return error == 0; }
};

class reactor_backend {
 public:
  virtual ~reactor_backend() = default;
  virtual io_status add(int fd, std::uint8_t interests, std::uint64_t token) noexcept = 0;
  virtual io_status modify(int fd, std::uint8_t interests, std::uint64_t token) noexcept = 0;
  virtual io_status remove(int fd) noexcept = 0;
  // Waits up to timeout_ms (-1: forever, 0: poll) and fills `out`; returns the number of events.
  virtual int wait(std::span<io_event> out, int timeout_ms) noexcept = 0;
  // True if events are ready that the last wait() did not return (so the next must not sleep).
  virtual bool pending() const noexcept { return false; }
  virtual const char* name() const noexcept = 0;
};

// Creates the epoll backend; on failure returns null and sets `error`.
std::unique_ptr<reactor_backend> make_epoll_backend(std::string& error);

}  // namespace shoal::gateway
