// listen_guard: one shoal per listening address unless sharing is asked for. Every shard opens
// its own SO_REUSEPORT socket on each address, and SO_REUSEPORT would just as silently let a
// second shoal (started by mistake) take part of the new connections. So the process also binds
// an abstract Unix socket named after each address ("@shoal-listen:127.0.0.1:8080"), which the
// kernel frees when the process dies however it ends: a second shoal finds the name taken and
// refuses to start, naming the pid that holds it. A shoal started with server.share_listeners
// (a zero-downtime upgrade) starts anyway and takes the names once the old process is gone.
// Main thread only. Abstract names live per network namespace, like the TCP ports they guard.
#pragma once

#include <string>
#include <vector>

#include "gateway/config.hpp"

namespace shoal::gateway {

class listen_guard {
 public:
  listen_guard() = default;
  ~listen_guard();
  listen_guard(const listen_guard&) = delete;
  listen_guard& operator=(const listen_guard&) = delete;

  // Takes the name of every address. False when one is held by another process: `error` says
  // which address and which pid (when the kernel tells), and nothing is held.
  bool acquire(const std::vector<listen_address>& addresses, std::string& error);
  // share_listeners: takes what is free and remembers the rest; `held_by` lists the addresses
  // another process still holds (empty: all taken).
  void acquire_shared(const std::vector<listen_address>& addresses, std::string& held_by);
  // Retries the names still missing (the old process may have exited); true once all are held.
  bool retry();
  bool complete() const noexcept { return missing_.empty(); }

 private:
  struct name {
    std::string text;  // without the leading NUL
    int fd = -1;
  };
  // -1 with errno EADDRINUSE when another process holds it.
  static int bind_name(const std::string& text);
  // The pid of the process holding `text`, or 0 when unknown.
  static long holder_pid(const std::string& text);
  static std::string name_of(const listen_address& a);

  std::vector<name> held_;
  std::vector<std::string> missing_;
};

}  // namespace shoal::gateway
