// The self-contained HTML report (--html FILE): the summary figures, a plot of throughput over
// the measured window (one point per second) and the latency percentile curve (p0 .. p99.999 on
// the usual 1/(1-p) axis), drawn as inline SVG, so the file opens in any browser without network
// access and can be attached to a ticket. Built on the main thread from the finished report.
#pragma once

#include <string>

#include "loadgen/report.hpp"

namespace shoal::loadgen {

std::string format_html(const run_report& r);

}  // namespace shoal::loadgen
