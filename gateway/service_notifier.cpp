// service_notifier (see service_notifier.hpp): a thin layer over libsystemd's sd_notify.
#include "gateway/service_notifier.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "gateway/log.hpp"

namespace shoal::gateway {

service_notifier::service_notifier() {
  enabled_ = std::getenv("NOTIFY_SOCKET") != nullptr;
  std::uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, names this process.
  if (enabled_ && ::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    // Half the interval, as sd_watchdog_enabled(3) advises, so one late wake-up is not fatal.
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
    log_line(log_level::info, "systemd watchdog: pinging every %llu ms",
             static_cast<unsigned long long>(usec / 2000));
  }
}

void service_notifier::send(const std::string& state) {
  if (!enabled_) return;
  const int r = ::sd_notify(0, state.c_str());
  if (r < 0) log_line(log_level::debug, "sd_notify: error %d", -r);
}

void service_notifier::ready(const std::string& status) {
  send("READY=1\nSTATUS=" + status + (watchdog_enabled() ? "\nWATCHDOG=1" : ""));
  last_ping_ = clock::now();
}

void service_notifier::stopping(const std::string& status) {
  send("STOPPING=1\nSTATUS=" + status);
}

void service_notifier::status(const std::string& status) { send("STATUS=" + status); }

void service_notifier::tick(clock::time_point now) {
  if (!watchdog_enabled() || now - last_ping_ < watchdog_interval_) return;
  send("WATCHDOG=1");
  last_ping_ = now;
}

std::chrono::milliseconds service_notifier::max_wait(clock::time_point now,
                                                     std::chrono::milliseconds longest) const {
  if (!watchdog_enabled()) return longest;
  const auto due =
      std::chrono::ceil<std::chrono::milliseconds>(last_ping_ + watchdog_interval_ - now);
  return std::clamp(due, std::chrono::milliseconds(1), longest);
}

}  // namespace shoal::gateway
