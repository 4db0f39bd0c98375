// listen_guard (see listen_guard.hpp): abstract Unix socket names, one per listening address.
#include "gateway/listen_guard.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace shoal::gateway {

namespace {
socklen_t abstract_address(const std::string& text, sockaddr_un& sa) {
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  const std::size_t n = std::min(text.size(), sizeof sa.sun_path - 1);
  std::memcpy(sa.sun_path + 1, text.data(), n);  // sun_path[0] == 0: the abstract namespace
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}
}  // namespace

listen_guard::~listen_guard() {
  for (const name& n : held_) ::close(n.fd);
}

std::string listen_guard::name_of(const listen_address& a) {
  listen_address normal = a;
  if (normal.host == "localhost") normal.host = "127.0.0.1";
  return "shoal-listen:" + format_listen_address(normal);
}

int listen_guard::bind_name(const std::string& text) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa;
  const socklen_t len = abstract_address(text, sa);
  // Listening, never accepting: a second instance can connect to learn our pid (SO_PEERCRED).
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 || ::listen(fd, 1) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

long listen_guard::holder_pid(const std::string& text) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_un sa;
  const socklen_t len = abstract_address(text, sa);
  long pid = 0;
  ucred cred{};
  socklen_t cred_len = sizeof cred;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0 &&
      ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0)
    pid = cred.pid;
  ::close(fd);
  return pid;
}

bool listen_guard::acquire(const std::vector<listen_address>& addresses, std::string& error) {
  for (const listen_address& a : addresses) {
    const std::string text = name_of(a);  // validation has ruled out an address listed twice
    const int fd = bind_name(text);
    if (fd >= 0) {
      held_.push_back({text, fd});
      continue;
    }
    const int why = errno;
    for (const name& n : held_) ::close(n.fd);
    held_.clear();
    error = "listen on " + format_listen_address(a) + ": ";
    if (why != EADDRINUSE) {
      error += std::string("cannot claim the address for this process: ") + std::strerror(why);
      return false;
    }
    const long pid = holder_pid(text);
    error += "another shoal";
    if (pid > 0) error += " (pid " + std::to_string(pid) + ")";
    error += " already listens there, and SO_REUSEPORT would split the new connections between "
             "the two; stop it, or start this one with --share-listeners true to take over from it "
             "on purpose (zero-downtime upgrade: then SIGTERM the old one)";
    return false;
  }
  return true;
}

void listen_guard::acquire_shared(const std::vector<listen_address>& addresses, std::string& held_by) {
  for (const listen_address& a : addresses) {
    const std::string text = name_of(a);
    const int fd = bind_name(text);
    if (fd >= 0) {
      held_.push_back({text, fd});
      continue;
    }
    missing_.push_back(text);
    const long pid = holder_pid(text);
    if (!held_by.empty()) held_by += ", ";
    held_by += format_listen_address(a);
    if (pid > 0) held_by += " (pid " + std::to_string(pid) + ")";
  }
}

bool listen_guard::retry() {
  for (auto it = missing_.begin(); it != missing_.end();) {
    const int fd = bind_name(*it);
    if (fd < 0) {
      ++it;
      continue;
    }
    held_.push_back({*it, fd});
    it = missing_.erase(it);
  }
  return missing_.empty();
}

}  // namespace shoal::gateway
