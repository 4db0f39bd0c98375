// fork/pipe/waitpid for process_split.hpp. The parent reads the pipes in child order; a child
// blocked on a full pipe just waits its turn, since the parent drains each pipe to EOF.
#include "loadgen/process_split.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "loadgen/report_merge.hpp"

namespace shoal::loadgen {

std::uint64_t connections_per_process() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024 - fd_margin;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  const std::uint64_t n = lim.rlim_cur == RLIM_INFINITY ? (1u << 20) : lim.rlim_cur;
  return n > 2 * fd_margin ? n - fd_margin : n / 2;
}

std::vector<std::optional<run_report>> run_in_children(
    unsigned count, const std::function<bool(unsigned, run_report&)>& child) {
  std::vector<int> fds;
  std::vector<pid_t> pids;
  std::fflush(nullptr);
  for (unsigned k = 0; k < count; ++k) {
    int p[2];
    if (::pipe(p) != 0) {
      std::perror("shoal-loadgen: pipe");
      break;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("shoal-loadgen: fork");
      ::close(p[0]);
      ::close(p[1]);
      break;
    }
    if (pid == 0) {
      for (const int fd : fds) ::close(fd);
      ::close(p[0]);
      run_report r;
      const bool ok = child(k, r);
      const std::string json = format_json(r);
      std::size_t off = 0;
      while (off < json.size()) {
        const ssize_t n = ::write(p[1], json.data() + off, json.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      ::close(p[1]);
      std::fflush(nullptr);
      ::_exit(ok ? 0 : 1);
    }
    ::close(p[1]);
    fds.push_back(p[0]);
    pids.push_back(pid);
  }
  std::vector<std::optional<run_report>> out;
  for (std::size_t k = 0; k < fds.size(); ++k) {
    std::string text;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fds[k], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[k]);
    out.push_back(parse_report_json(text));
  }
  for (const pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  return out;
}

}  // namespace shoal::loadgen
