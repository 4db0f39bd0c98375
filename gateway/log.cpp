// stderr logging (see log.hpp). One fprintf per line: stdio locks the stream, so lines from
// different shards do not interleave.
#include "gateway/log.hpp"

#include <atomic>
#include <ctime>

namespace shoal::gateway {
namespace {
std::atomic<log_level> current{log_level::info};  // SIGHUP may change it while shards log
const char* const names[] = {"error", "warn", "info", "debug"};
}  // namespace

void set_log_level(log_level level) noexcept { current.store(level, std::memory_order_relaxed); }
bool log_enabled(log_level level) noexcept {
  return level <= current.load(std::memory_order_relaxed);
}

void log_line(log_level level, const char* fmt, ...) noexcept {
  if (!log_enabled(level)) return;
  char msg[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, args);
  va_end(args);
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  ::gmtime_r(&ts.tv_sec, &utc);
  std::fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ shoal %s: %s\n", utc.tm_year + 1900,
               utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ts.tv_nsec / 1000000,
               names[static_cast<int>(level)], msg);
}

}  // namespace shoal::gateway
