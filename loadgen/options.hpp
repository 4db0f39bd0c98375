// Command-line settings of one run, filled by main.cpp and read-only once the workers start
// (every thread reads them; nobody writes them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/token_plan.hpp"
#include "loadgen/url_plan.hpp"

namespace shoal::loadgen {

struct options {
  std::string scenario;             // "echo", "pubsub", "slow", "burst" or "connect"
  std::vector<std::string> urls;             // --url, repeatable
  std::vector<std::string> publish_urls;     // pubsub, slow, burst: --publish-url, repeatable
  std::vector<std::string> subscribe_urls;   // pubsub, slow, burst: --subscribe-url, repeatable
  url_plan targets;                 // the three lists, parsed and resolved
  unsigned threads = 1;
  std::uint64_t size = 64;          // payload bytes per message
  double duration_s = 10;
  double rate = 0;                  // total messages/s; 0 = closed loop (echo) / burst (pubsub)
  std::string json_path;
  std::string html_path;
  int server_pid = 0;
  bool progress = false;            // progress line even when stderr is not a terminal
  std::string source;               // --source, parsed into every target's sources
  double warmup_timeout_s = 30;
  double drain_timeout_s = 2;
  bool deflate = false;             // permessage-deflate on every connection
  std::string ca_file;              // wss://: CA to trust; empty: the system's
  bool insecure = false;            // wss://: no certificate verification
  std::uint64_t max_connections = 1'000'000;  // refuse plans that open more
  // JWTs (issue 16): --token or --token-file, --token-in; read and checked into `tokens`, which
  // every connection takes its token from by its index in the run (as `targets` for URLs). A
  // --processes child gets a copy of all of it with the options at fork.
  std::string token;
  std::string token_file;
  std::string token_in = "header";
  token_plan tokens;
  // echo
  std::uint64_t connections = 1;
  std::uint64_t inflight = 1;
  // connect
  std::uint64_t concurrency = 256;  // handshakes in flight per thread
  std::uint64_t processes = 0;      // echo, connect: 0 = as the open-file limit needs
  double drop_all_at_s = 0;         // connect: drop every held connection this far into the hold; 0 = never
  std::uint64_t probe = 0;          // connect --drop-all-at: echo probe connections (in the parent)
  // echo, connect: this process's first connection among the run's (a child of a split run), so
  // the processes together go round robin over the URLs as one process would
  std::uint64_t first_connection = 0;
  // pubsub
  std::uint64_t subscribers = 1;
  std::uint64_t topics = 1;
  std::uint64_t publishers = 1;
  std::uint64_t burst = 0;
  double slow_share = 0;            // slow: share of subscribers that stop reading
  // burst (subscribers and publishers above are the hot topic's)
  std::uint64_t pipeline = 0;       // publishes per hot publisher, sent without waiting for acks
  std::uint64_t quiet_topics = 0;   // quiet topics beside the hot one
  std::uint64_t quiet_subscribers = 1;  // subscribers per quiet topic
  double quiet_rate = 100;          // publishes/s over all quiet topics together
};

// How many of `total` items worker `w` of `workers` gets when item i goes to worker i % workers.
inline std::uint64_t share_of(std::uint64_t total, unsigned workers, unsigned w) noexcept {
  return total / workers + (w < total % workers ? 1 : 0);
}

}  // namespace shoal::loadgen
