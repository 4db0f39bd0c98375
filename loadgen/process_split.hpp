// Running one scenario in several processes when --connections is past what one process may
// open (RLIMIT_NOFILE): the parent forks children before any thread exists, each child runs its
// share and writes its JSON report to a pipe, and the parent merges them. Parent main thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "loadgen/report.hpp"

namespace shoal::loadgen {

// Descriptors kept free for epoll, pipes, /proc reads and stdio in each process.
inline constexpr std::uint64_t fd_margin = 64;

// Raises the soft open-file limit to the hard one and returns how many connections one process
// may hold (limit minus fd_margin).
std::uint64_t connections_per_process();

// How many processes `connections` need at `per_process` each (at least 1).
inline std::uint64_t processes_for(std::uint64_t connections, std::uint64_t per_process) noexcept {
  if (per_process == 0) return 1;
  return connections / per_process + (connections % per_process != 0 ? 1 : 0);
}

// Forks `count` children; child k runs `child(k)` (which returns its report and success), writes
// the report's JSON to the parent and exits. Returns the children's reports (nullopt entries for
// a child that died or wrote no report) once all have exited.
std::vector<std::optional<run_report>> run_in_children(
    unsigned count, const std::function<bool(unsigned, run_report&)>& child);

}  // namespace shoal::loadgen
