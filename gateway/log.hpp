// Minimal leveled logging to stderr, one line per call, for start-up, shutdown and rare events
// (never per message). The level is set once at start-up, before the shards run.
#pragma once

#include <cstdarg>
#include <cstdio>

#include "gateway/config.hpp"

namespace shoal::gateway {

void set_log_level(log_level level) noexcept;
bool log_enabled(log_level level) noexcept;
void log_line(log_level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace shoal::gateway
