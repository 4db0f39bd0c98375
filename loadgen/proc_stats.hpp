// Another process's CPU time and resident memory, read from /proc (Linux). Used by the main
// thread at the edges of the measured window for --server-pid. Plain functions; no state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shoal::loadgen {

// utime + stime of `pid` in seconds (fields 14 and 15 of /proc/PID/stat, in clock ticks).
std::optional<double> read_cpu_seconds(int pid);
// VmRSS of `pid` in bytes (/proc/PID/status).
std::optional<std::uint64_t> read_rss_bytes(int pid);

// Parsers, exposed for tests: the text of /proc/PID/stat and /proc/PID/status.
std::optional<std::uint64_t> parse_stat_cpu_ticks(std::string_view stat);
std::optional<std::uint64_t> parse_status_rss_bytes(std::string_view status);

}  // namespace shoal::loadgen
