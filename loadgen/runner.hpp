// The main thread's side of a run: start the workers, wait for warm-up, open the measured window,
// print progress once a second, sample the server's CPU and memory at the window's edges, drain,
// stop, join and build the report. Interruptible by SIGINT through `interrupted`.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "loadgen/options.hpp"
#include "loadgen/process_split.hpp"
#include "loadgen/report.hpp"
#include "loadgen/run_control.hpp"
#include "loadgen/worker.hpp"

namespace shoal::loadgen {

using worker_factory = std::function<std::unique_ptr<worker>(run_control&, unsigned index)>;
// True when everything sent has come back (summed over the live counters).
using drained_fn = std::function<bool(const run_control&)>;

// Runs one scenario. Returns false (with the report filled as far as it got) if warm-up failed.
// With `window_done`, the measured window ends as soon as it returns true (at the latest after
// --duration): the burst scenario's window is the burst. With `gate`, the window starts when
// the gate says (after warm-up; a run whose gate returns 0 fails): processes that measure one
// event together (connect --drop-all-at) start their windows at the same instant.
bool run_scenario(const options& opt, const worker_factory& make, const drained_fn& drained,
                  const std::atomic<bool>& interrupted, run_report& report,
                  const drained_fn& window_done = nullptr, const start_gate& gate = nullptr);

}  // namespace shoal::loadgen
