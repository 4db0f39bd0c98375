// service_notifier: what the service manager (systemd, Type=notify) is told about this process:
// READY=1 once every listener is open and the shards run, STOPPING=1 when a drain begins,
// STATUS lines, and WATCHDOG=1 at half of WATCHDOG_USEC while the main loop turns. Main thread
// only. Without NOTIFY_SOCKET in the environment (the usual case outside systemd) every call
// does nothing; sd_notify's errors are ignored, as a service manager that stopped listening is
// no reason to stop serving.
#pragma once

#include <chrono>
#include <string>

namespace shoal::gateway {

class service_notifier {
 public:
  using clock = std::chrono::steady_clock;

  // Reads NOTIFY_SOCKET and WATCHDOG_USEC / WATCHDOG_PID (sd_watchdog_enabled) once.
  service_notifier();

  void ready(const std::string& status);     // READY=1, the first watchdog ping
  void stopping(const std::string& status);  // STOPPING=1
  void status(const std::string& status);    // STATUS= alone

  // Called on every wake-up of the main loop: sends WATCHDOG=1 once half the interval passed.
  void tick(clock::time_point now);
  // How long the main loop may sleep from `now` and still ping in time: until the next ping is
  // due (at least 1 ms), or `longest` when there is no watchdog or the ping is further away.
  std::chrono::milliseconds max_wait(clock::time_point now,
                                     std::chrono::milliseconds longest) const;

  bool watchdog_enabled() const noexcept { return watchdog_interval_.count() > 0; }

 private:
  void send(const std::string& state);
  bool enabled_ = false;                       // NOTIFY_SOCKET is set
  std::chrono::microseconds watchdog_interval_{0};  // half of WATCHDOG_USEC; 0 = off
  clock::time_point last_ping_{};
};

}  // namespace shoal::gateway
