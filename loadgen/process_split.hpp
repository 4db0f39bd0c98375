// Running one scenario in several processes when --connections is past what one process may
// open (RLIMIT_NOFILE): the parent forks children before any thread exists, each child runs its
// share and writes its JSON report to a pipe, and the parent merges them. Parent main thread only.
// With a start gate (connect --drop-all-at) the children start their measured windows at one
// CLOCK_MONOTONIC instant that the parent chooses once every child is connected.
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

// Called by a run once it is warmed up: returns the CLOCK_MONOTONIC ns at which its measured
// window starts (now or a little later), or 0 to give the run up.
using start_gate = std::function<std::int64_t()>;

// The parent's side of the children's gates: waits until every child is ready (or has exited
// without getting ready), then calls `choose` for the start and sends it to every ready child.
// Returns how many children were ready (`choose` is not called when none was).
using open_gate_fn = std::function<unsigned(const std::function<std::int64_t()>& choose)>;

// One child's outcome: its report (nullopt if it died or wrote none) and whether it exited with
// status 0 (its run succeeded: a child whose connections all failed has a report and failed).
struct child_result {
  std::optional<run_report> report;
  bool ok = false;
};

// Forks `count` children; child k runs `child(k, gate, report)` (which returns success), writes
// the report's JSON to the parent and exits (status 0 on success). Without `during`, `gate` is
// empty (each child starts its window when it is ready). With `during`, the parent runs
// during(open_gate) after every fork (threads are allowed there), and each child's gate tells the
// parent it is ready and waits for the start it chose. Returns the children's results once all
// have exited.
std::vector<child_result> run_in_children(
    unsigned count, const std::function<bool(unsigned, const start_gate&, run_report&)>& child,
    const std::function<void(const open_gate_fn&)>& during = nullptr);

}  // namespace shoal::loadgen
