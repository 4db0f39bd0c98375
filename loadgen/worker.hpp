// The interface between the runner (main thread) and a scenario's worker threads. A worker is
// built and destroyed by the main thread; run() is its thread body, and its results are read by
// the main thread only after the thread has joined.
#pragma once

#include <cstdint>
#include <vector>

#include "loadgen/report.hpp"

namespace shoal::loadgen {

class worker {
 public:
  virtual ~worker() = default;
  // The thread body: connect, count itself ready, run the phases until run_phase::done.
  virtual void run() = 0;
  // After join: adds this worker's histograms and counts to `r`.
  virtual void collect(run_report& r) const = 0;
  // Pub/sub: confirmed subscribers per topic; valid once the worker counted itself ready.
  virtual const std::vector<std::uint64_t>* confirmed_per_topic() const { return nullptr; }
};

}  // namespace shoal::loadgen
