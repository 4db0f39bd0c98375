// The shoal binary: loads the configuration (embedded defaults < TOML file < flags), then runs
// the server until SIGTERM/SIGINT. Exit codes: 0 clean, 1 start-up failure, 2 bad configuration.
#include <cstdio>

#include "gateway/config.hpp"
#include "gateway/log.hpp"
#include "gateway/server.hpp"

int main(int argc, char** argv) {
  using namespace shoal::gateway;
  const config_result loaded = load_config(argc, argv);
  if (loaded.action == config_action::exit) {
    std::fputs(loaded.output.c_str(), stdout);
    return loaded.exit_code;
  }
  if (loaded.action == config_action::fail) {
    std::fputs(loaded.output.c_str(), stderr);
    return loaded.exit_code;
  }
  set_log_level(loaded.settings.log.level);
  server s(loaded.settings);
  s.set_command_line(argc, argv);
  return s.run();
}
