// Reading back the JSON report of a child process (format_json's own output, not arbitrary
// JSON) and merging reports of processes that ran side by side into one. Main thread of the
// parent process, after the children have written their reports.
#pragma once

#include <optional>
#include <string_view>

#include "loadgen/report.hpp"

namespace shoal::loadgen {

// Parses a report written by format_json; nullopt if a required field is missing.
std::optional<run_report> parse_report_json(std::string_view json);

// Adds `part` to `total`: counts summed (connections dropped too), histograms merged exactly,
// durations, connect times and drop spreads the longest. The server was sampled by every process over overlapping windows, so its CPU time
// and RSS are the largest sample, not a sum.
void merge_report(run_report& total, const run_report& part);

}  // namespace shoal::loadgen
