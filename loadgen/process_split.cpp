// fork/pipe/waitpid for process_split.hpp. The parent reads the pipes in child order; a child
// blocked on a full pipe just waits its turn, since the parent drains each pipe to EOF. A child
// closes its gate pipes before it writes its report, so a parent waiting at the gate is never
// stuck behind a report it has not read yet.
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

namespace {

// Reads or writes all `n` bytes, retrying after EINTR; false at EOF or on an error.
bool read_all(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// The two pipes of one child's start gate: the child writes one byte to ready_w when it is
// warmed up; the parent answers with the start (8 bytes, CLOCK_MONOTONIC ns) on go_w. A closed
// go pipe tells a waiting child to give up.
struct gate_pipes {
  int ready_r = -1, ready_w = -1, go_r = -1, go_w = -1;
};

}  // namespace

std::vector<child_result> run_in_children(
    unsigned count, const std::function<bool(unsigned, const start_gate&, run_report&)>& child,
    const std::function<void(const open_gate_fn&)>& during) {
  std::vector<int> fds;
  std::vector<pid_t> pids;
  std::vector<gate_pipes> gates;
  std::fflush(nullptr);
  for (unsigned k = 0; k < count; ++k) {
    gate_pipes g;
    if (during) {
      int r[2], w[2];
      if (::pipe(r) != 0) {
        std::perror("shoal-loadgen: pipe");
        break;
      }
      if (::pipe(w) != 0) {
        std::perror("shoal-loadgen: pipe");
        ::close(r[0]);
        ::close(r[1]);
        break;
      }
      g = {r[0], r[1], w[0], w[1]};
    }
    int p[2];
    if (::pipe(p) != 0) {
      std::perror("shoal-loadgen: pipe");
      for (int* fd : {&g.ready_r, &g.ready_w, &g.go_r, &g.go_w}) close_fd(*fd);
      break;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("shoal-loadgen: fork");
      ::close(p[0]);
      ::close(p[1]);
      for (int* fd : {&g.ready_r, &g.ready_w, &g.go_r, &g.go_w}) close_fd(*fd);
      break;
    }
    if (pid == 0) {
      // Nothing of the earlier children's: a go pipe held open here would never report EOF.
      for (const int fd : fds) ::close(fd);
      for (gate_pipes& other : gates) {
        close_fd(other.ready_r);
        close_fd(other.go_w);
      }
      ::close(p[0]);
      close_fd(g.ready_r);
      close_fd(g.go_w);
      start_gate gate;
      if (during) {
        gate = [&g]() -> std::int64_t {
          const char ready = 'r';
          std::int64_t start = 0;
          if (!write_all(g.ready_w, &ready, 1) || !read_all(g.go_r, &start, sizeof start)) return 0;
          return start;
        };
      }
      run_report r;
      const bool ok = child(k, gate, r);
      // Before the report: a parent still waiting for this child's ready byte sees EOF now.
      close_fd(g.ready_w);
      close_fd(g.go_r);
      const std::string json = format_json(r);
      write_all(p[1], json.data(), json.size());
      ::close(p[1]);
      std::fflush(nullptr);
      ::_exit(ok ? 0 : 1);
    }
    ::close(p[1]);
    close_fd(g.ready_w);
    close_fd(g.go_r);
    fds.push_back(p[0]);
    pids.push_back(pid);
    gates.push_back(g);
  }
  if (during) {
    bool opened = false;
    const open_gate_fn open_gate = [&](const std::function<std::int64_t()>& choose) -> unsigned {
      if (opened) return 0;
      opened = true;
      std::vector<gate_pipes*> ready;
      for (gate_pipes& g : gates) {
        char byte = 0;
        if (read_all(g.ready_r, &byte, 1)) ready.push_back(&g);
        close_fd(g.ready_r);
      }
      if (ready.empty()) return 0;
      const std::int64_t start = choose();
      for (gate_pipes* g : ready) write_all(g->go_w, &start, sizeof start);
      return static_cast<unsigned>(ready.size());
    };
    during(open_gate);
    // A gate never opened (the parent's own run failed first) lets its children go with 0.
    for (gate_pipes& g : gates) {
      close_fd(g.ready_r);
      close_fd(g.go_w);
    }
  }
  std::vector<child_result> out;
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
    out.push_back({parse_report_json(text), false});
  }
  for (std::size_t k = 0; k < pids.size(); ++k) {
    int status = 0;
    pid_t got = 0;
    while ((got = ::waitpid(pids[k], &status, 0)) < 0 && errno == EINTR) {
    }
    out[k].ok = got == pids[k] && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return out;
}

}  // namespace shoal::loadgen
