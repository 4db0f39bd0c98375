// The server: builds the shards from the configuration, opens every listener before any thread
// starts (so a bad address fails start-up with a clear message), runs one pinned shard per
// core, turns SIGTERM/SIGINT into a graceful drain and SIGHUP into a reload of the TLS
// certificates, and tells systemd (Type=notify) when it is ready and when it stops. Lives on the
// main thread.
#pragma once

#include <memory>
#include <vector>

#include "gateway/cluster_link.hpp"
#include "gateway/config.hpp"
#include "gateway/listen_guard.hpp"
#include "gateway/shard.hpp"
#include "gateway/shard_context.hpp"

namespace shoal::gateway {

// Connection limits and timeouts in the units connections use (ticks).
connection_settings make_connection_settings(const config& cfg);

class server {
 public:
  explicit server(const config& cfg);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Runs until a signal ends the drain; returns the process exit code.
  int run();

  // The command line the config came from: SIGHUP loads it again (the --config file with the
  // flags over it). Without it, SIGHUP only re-reads the certificate and key files.
  void set_command_line(int argc, const char* const* argv) {
    argc_ = argc;
    argv_ = argv;
  }

 private:
  // SIGHUP: the config file again, applying what can change while running (reload_config), then
  // the certificate and JWT key files of the configuration in force.
  void reload_config();
  void apply_config_file();
  void reload_tls();
  void reload_auth();
  const config& cfg_;  // as started: shards read it, so it never changes
  config live_;        // as last applied by SIGHUP (main thread only)
  int argc_ = 0;
  const char* const* argv_ = nullptr;
  connection_settings settings_;
  server_state state_;
  listen_guard guard_;  // one shoal per address unless server.share_listeners
  std::unique_ptr<shard_mesh> mesh_;
  std::unique_ptr<cluster_link> link_;  // after mesh_ (it wakes shards through it), before shards_
  std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace shoal::gateway
