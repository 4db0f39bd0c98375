// shoal-loadgen: opens many WebSocket client connections to a Shoal server and measures it.
//
//   shoal-loadgen echo   --url ws://127.0.0.1:8080/echo --connections N --size BYTES
//                        --inflight K --duration SECONDS [--rate MSGS_PER_S] --threads T
//                        [--json FILE] [--server-pid PID]
//   shoal-loadgen connect --url ws://127.0.0.1:8080/echo --connections N [--concurrency C]
//                        --duration SECONDS (hold) [--server-pid PID] [--source A-B]
//                        [--drop-all-at SECONDS [--probe N]]
//   shoal-loadgen pubsub --url ws://127.0.0.1:8080/ws --subscribers S --topics T
//                        --publishers P (--rate R | --burst B) --size BYTES --duration SECONDS
//                        --threads T [--json FILE] [--server-pid PID]
//                        [--publish-url URL]... [--subscribe-url URL]... (instead of --url)
//
//   shoal-loadgen slow   (the pubsub flags) --slow-share F: subscriber g is slow when
//                        floor((g+1)F) > floor(gF); slow ones stop reading for the window and
//                        read again in the drain; reported apart: deliveries, gaps, 1008 closes
//   shoal-loadgen burst  --url ws://127.0.0.1:8080/ws --publishers P --pipeline N --subscribers S
//                        [--quiet-topics Q --quiet-subscribers K --quiet-rate R] --threads T
//                        [--duration SECONDS] [--drain-timeout SECONDS] [--json FILE]
//                        [--publish-url URL]... [--subscribe-url URL]... (instead of --url)
//
// Several nodes (issue 15), e.g. publishers on node A, subscribers on nodes B and C:
//   shoal-loadgen pubsub --publish-url ws://a:8080/ws --subscribe-url ws://b:8080/ws
//                        --subscribe-url ws://c:8080/ws --subscribers 1000 --publishers 4 ...
//
// Common flags:
//   --url URL            ws://host[:port]/path of the endpoint (/echo or /ws). Repeatable: the
//                        run's connections go round robin over the URLs (connection i to URL
//                        i % K, counted over every thread and --processes child). Every URL is
//                        checked before connecting; the report lists them all ("urls")
//   --publish-url URL    (pubsub, slow, burst; repeatable) publishers connect only here, round
//                        robin by publisher index; without it they use --url
//   --subscribe-url URL  (pubsub, slow, burst; repeatable) the same for subscribers; --url may be
//                        left out when both are given. Latency stays publish-to-delivery across
//                        nodes: it is the receipt minus the "t" this process stamped in the
//                        payload (CLOCK_MONOTONIC), whichever node relayed it
//   --threads T          worker threads, one epoll loop each; connections spread round robin
//   --size BYTES         payload bytes per message (echo: >= 8; pubsub: the whole pub JSON)
//   --duration SECONDS   length of the measured window (after warm-up)
//   --rate R             total messages/s, open loop: latency from the intended send time;
//                        the report gives intended (R x window) vs sent and missed sends, and
//                        warns when fewer than 95% of the intended sends went out
//   --json FILE          also write the report as one JSON object to FILE
//   --html FILE          also write a self-contained HTML report (plots as inline SVG) to FILE
//   --processes N        (echo, connect) split the connections over N child processes; by
//                        default as many as RLIMIT_NOFILE needs; reports are merged exactly
//   --source A-B[,C]     bind connections round robin to these local IPv4 addresses
//   --server-pid PID     sample /proc/PID (utime+stime, VmRSS) at the window's edges
//   --warmup-timeout S   give up if connections (and subscriptions) are not ready in S (30)
//   --drain-timeout S    after the window, wait up to S for messages in flight (2)
//   --max-connections N  refuse (exit 2) a run that would open more than N connections (1000000)
//   --deflate            permessage-deflate: compress what is sent, inflate what arrives
//   --ca FILE            wss://: trust this CA (PEM) instead of the system's
//   --insecure           wss://: skip certificate verification
//   --token JWT          (issue 16) every connection presents this JWT, where --token-in says
//   --token-file FILE    JWTs, one per line (blank lines skipped); the run's connection i presents
//                        token i % count, counted over every thread and --processes child (as
//                        for --url). Not with --token. Tokens hold only A-Z a-z 0-9 - _ and '.'
//   --token-in WHERE     header (default): "Authorization: Bearer JWT" on the upgrade request;
//                        query: token=JWT added to the request target's query; message: a first
//                        message {"op":"auth","token":"JWT"} once upgraded, and the connection
//                        counts as open only when {"op":"authed"} comes back (connect: the
//                        handshake latency then includes the auth round trip). An error answer,
//                        any other answer or a close fails the connection; no answer is waited
//                        for as long as --warmup-timeout
// echo:
//   --connections N      connections (default 1)
//   --inflight K         closed loop: messages outstanding per connection (default 1)
// connect: opens N connections (C handshakes in flight per thread), reports connections/s and
//   handshake latency, holds them for --duration, and with --server-pid the server's VmRSS
//   growth per connection (end of the window minus before the first connect).
//   --drop-all-at S      (0 < S < --duration) a mass disconnect (issue 19): S seconds into the
//                        hold every held connection is closed at once, without a Close frame, in
//                        every thread and process. The connections always run in child processes
//                        (at least one), which start their holds at one instant the parent chose
//                        once all were connected; the parent keeps the probe
//   --probe N            (default 1, needs --drop-all-at) N more connections to the first --url,
//                        which must be an echo endpoint (/echo): through the hold each sends 16 B
//                        when its last echo is back (at most every 1 ms) and times the round
//                        trip; reported over the hold and over the 2 s from the drop. A reply that
//                        is not the echo, a probe closed, or an echo missing after the drain fails
//                        the run
// pubsub:
//   --subscribers S      subscriber connections; subscriber i listens to topic i % T
//   --topics T           topics lg.0 .. lg.<T-1>
//   --publishers P       publisher connections; publisher p sends to topic (n*P + p) % T
//   --burst B            instead of --rate: each publisher sends B messages back to back and
//                        waits for their B acks before the next burst
// burst: no message may be lost under a publish burst (issue 14). Each of P publishers sends
//   N publishes to the hot topic burst.hot back to back without waiting for answers (the socket
//   kept fed, many frames per write), each with an id its ack or refusal is matched by; S
//   subscribers of burst.hot read as fast as they can. The window is the burst: it ends when every
//   publish is sent and answered and every expected delivery arrived or was announced by a gap
//   (at the latest after --duration, default 10), then --drain-timeout waits for stragglers.
//   Reported per topic group: sent, acked, refusals by code, unanswered, per-subscriber delivered
//   vs expected (min, max, total), gap notices and the messages they announce, order violations,
//   duplicates and loss (expected - delivered - announced, per subscriber).
//   --publishers P       pipelining publishers of the hot topic
//   --pipeline N         publishes per publisher, sent without waiting for acks
//   --subscribers S      subscribers of the hot topic
//   --quiet-topics Q     also Q quiet topics burst.quiet.1..Q (default 0), reported apart
//   --quiet-subscribers K  subscribers per quiet topic (default 1)
//   --quiet-rate R       publishes/s over all quiet topics (round robin, one more connection),
//                        for the whole burst (default 100)
// Connections that never opened are counted by reason ("failed to open, by reason" in the summary,
// "open_failures" in the JSON): the HTTP status of a refused upgrade ("HTTP 401"), "auth refused:
// CODE" (the error code answering the auth message), "closed during auth", a socket error, or
// "unanswered: STEP" for those still waiting when the warm-up timed out.
// A progress line (connections, rates, the worst thread's p99 so far) goes to stderr once a
// second when stderr is a terminal or with --progress; the summary to stdout. SIGINT ends the window
// early and prints a partial report. Exit code: 0 ok, 1 run failed, 2 bad flags.
#include <CLI/CLI.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <memory>
#include <cstdio>
#include <fstream>

#include "loadgen/burst_worker.hpp"
#include "loadgen/connect_worker.hpp"
#include "loadgen/echo_probe.hpp"
#include "loadgen/echo_worker.hpp"
#include "loadgen/html_report.hpp"
#include "loadgen/process_split.hpp"
#include "loadgen/pacer.hpp"
#include "loadgen/proc_stats.hpp"
#include "loadgen/pubsub_worker.hpp"
#include "loadgen/report_merge.hpp"
#include "loadgen/runner.hpp"
#include "loadgen/source_range.hpp"

namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "used from a signal handler");

extern "C" void on_sigint(int) { g_interrupted.store(true); }

// `url_required`: false where --publish-url and --subscribe-url may stand in for --url (checked
// after parsing).
void add_common(CLI::App& app, shoal::loadgen::options& o, bool url_required) {
  app.add_option("--url", o.urls,
                 "ws://host[:port]/path of the endpoint; repeat it to spread connections round robin "
                 "over several (gateway nodes)")
      ->allow_extra_args(false)->required(url_required);
  app.add_option("--threads", o.threads, "Worker threads, one epoll loop each")
      ->capture_default_str()->check(CLI::Range(1u, 256u));
  app.add_option("--size", o.size, "Payload bytes per message")->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{16} << 20));
  app.add_option("--duration", o.duration_s, "Measured window in seconds")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--json", o.json_path, "Write the report as JSON to FILE");
  app.add_option("--html", o.html_path,
                 "Write a self-contained HTML report (throughput over time, latency by percentile) to FILE");
  app.add_flag("--progress", o.progress, "Progress line on stderr even when it is not a terminal");
  app.add_option("--source", o.source, "Local IPv4 source addresses to bind, e.g. 127.0.0.2-127.0.0.20")
      ->capture_default_str();
  app.add_option("--server-pid", o.server_pid, "Server process to sample in /proc (CPU, RSS)");
  app.add_option("--warmup-timeout", o.warmup_timeout_s, "Seconds allowed for connecting and subscribing")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--deflate", o.deflate,
               "Offer permessage-deflate (no context takeover either way), compress every message "
               "sent and inflate what arrives; fails connections the server does not agree with");
  app.add_option("--ca", o.ca_file, "wss://: PEM file of the CA to trust (default: the system's)");
  app.add_flag("--insecure", o.insecure, "wss://: do not verify the server's certificate");
  app.add_option("--max-connections", o.max_connections,
                 "Refuse to start a run that would open more connections than this")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32));
  app.add_option("--drain-timeout", o.drain_timeout_s, "Seconds to wait for messages in flight after the window")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--token", o.token, "JWT every connection presents (see --token-in); not with --token-file")
      ->type_name("JWT");
  app.add_option("--token-file", o.token_file,
                 "File of JWTs, one per line (blank lines skipped): the run's connection i presents token "
                 "i % count, over every thread and process")
      ->type_name("FILE");
  app.add_option("--token-in", o.token_in,
                 "Where the token goes: header (Authorization: Bearer), query (token= on the URL) or message "
                 "(a first {\"op\":\"auth\"} message; open only once \"authed\" is back, so the connect "
                 "scenario's handshake latency includes the auth round trip; an error or a close fails the "
                 "connection, no answer waits up to --warmup-timeout)")
      ->type_name("header|query|message")->capture_default_str();
}

// --token, --token-file and --token-in of the subcommand `sub` into o.tokens; false with `error`.
bool load_tokens(const CLI::App& sub, shoal::loadgen::options& o, std::string& error) {
  using namespace shoal::loadgen;
  const bool has_token = sub.count("--token") > 0, has_file = sub.count("--token-file") > 0;
  if (has_token && has_file) {
    error = "give --token or --token-file, not both";
    return false;
  }
  const auto placement = parse_token_placement(o.token_in);
  if (!placement) {
    error = "--token-in must be header, query or message, not '" + o.token_in + "'";
    return false;
  }
  if (sub.count("--token-in") > 0 && !has_token && !has_file) {
    error = "--token-in needs --token or --token-file";
    return false;
  }
  o.tokens.placement = *placement;
  if (has_token) {
    if (o.token.empty()) {
      error = "--token is empty";
      return false;
    }
    if (const std::size_t bad = bad_token_char(o.token); bad != std::string::npos) {
      error = "--token: character " + std::to_string(bad + 1) +
              " is not base64url (A-Z a-z 0-9 - _) or '.': a JWT has only those";
      return false;
    }
    o.tokens.tokens = {o.token};
  } else if (has_file) {
    auto tokens = read_token_file(o.token_file, error);
    if (!tokens) {
      error = "--token-file " + o.token_file + ": " + error;
      return false;
    }
    o.tokens.tokens = std::move(*tokens);
  }
  return true;
}

// Open loop: how many sends the schedule called for over the window that ran (R x window).
void count_intended(const shoal::loadgen::options& o, shoal::loadgen::run_report& r) {
  if (o.rate <= 0) return;
  r.target_rate = o.rate;
  r.intended = static_cast<std::uint64_t>(std::llround(o.rate * r.duration_s));
}

struct ssl_ctx_free {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using client_ctx = std::unique_ptr<SSL_CTX, ssl_ctx_free>;

// The TLS client context every worker thread's connections share (SSL_CTX is thread-safe for
// creating sessions): TLS 1.2+, the server's certificate verified against --ca or the system's
// CAs unless --insecure, partial writes so a queue of frames drains like a socket.
client_ctx make_client_tls(const shoal::loadgen::options& o, std::string& error) {
  client_ctx ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    error = "cannot create a TLS context";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  if (o.insecure) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  const int ok = o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                                   : SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr);
  if (ok != 1) {
    error = o.ca_file.empty() ? "cannot load the system's CA certificates"
                              : "--ca " + o.ca_file + ": not a readable PEM file of certificates";
    return nullptr;
  }
  return ctx;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shoal::loadgen;
  options o;
  client_ctx tls_client;
  CLI::App app{"shoal-loadgen: load generator for Shoal (echo round trips, pub/sub fan-out)"};
  app.require_subcommand(1);
  CLI::App* echo = app.add_subcommand("echo", "Round-trip latency and throughput against /echo");
  add_common(*echo, o, true);
  echo->add_option("--connections", o.connections, "Connections")->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20));
  echo->add_option("--inflight", o.inflight, "Closed loop: messages outstanding per connection")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 16));
  echo->add_option("--rate", o.rate, "Open loop: total messages/s (latency from the intended send time)")
      ->check(CLI::PositiveNumber);
  CLI::App* pubsub = app.add_subcommand("pubsub", "Publish/subscribe fan-out against /ws (shoal.v1)");
  CLI::App* slow = app.add_subcommand(
      "slow", "Pub/sub where a share of subscribers stop reading: the server's slow-consumer policy at work");
  for (CLI::App* sub : {pubsub, slow}) {
    add_common(*sub, o, false);
    sub->add_option("--subscribers", o.subscribers, "Subscriber connections (subscriber i -> topic i % topics)")
        ->capture_default_str()->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 20));
    sub->add_option("--topics", o.topics, "Topics lg.0 .. lg.<topics-1>")->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20));
    sub->add_option("--publishers", o.publishers, "Publisher connections")->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 16));
    auto* rate = sub->add_option("--rate", o.rate, "Total publishes/s, open loop")->check(CLI::PositiveNumber);
    auto* burst = sub->add_option("--burst", o.burst, "Bursts of B publishes per publisher, each waiting for its acks")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20));
    rate->excludes(burst);
  }
  CLI::App* burst = app.add_subcommand(
      "burst", "Pipelining publishers flood one hot topic: is every publish acked and every message delivered?");
  add_common(*burst, o, false);
  burst->add_option("--publishers", o.publishers, "Pipelining publishers of the hot topic")->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 16));
  burst->add_option("--pipeline", o.pipeline, "Publishes per publisher, sent back to back without waiting for acks")
      ->required()->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 31));
  burst->add_option("--subscribers", o.subscribers, "Subscribers of the hot topic")->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 20));
  burst->add_option("--quiet-topics", o.quiet_topics, "Quiet topics beside the hot one, reported apart")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 20));
  burst->add_option("--quiet-subscribers", o.quiet_subscribers, "Subscribers per quiet topic")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 16));
  burst->add_option("--quiet-rate", o.quiet_rate, "Publishes/s over all quiet topics during the burst")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  for (CLI::App* sub : {pubsub, slow, burst}) {
    sub->add_option("--publish-url", o.publish_urls,
                    "Publishers connect here instead of --url (repeatable: round robin)")
        ->allow_extra_args(false);
    sub->add_option("--subscribe-url", o.subscribe_urls,
                    "Subscribers connect here instead of --url (repeatable: round robin)")
        ->allow_extra_args(false);
  }
  o.slow_share = 0.1;
  slow->add_option("--slow-share", o.slow_share, "Share of subscribers that stop reading during the window")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  CLI::App* connect = app.add_subcommand(
      "connect", "Connection rate and handshake latency up to --connections, then hold them idle");
  add_common(*connect, o, true);
  connect->add_option("--connections", o.connections, "Connections to open and hold")->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 24));
  for (CLI::App* sub : {echo, connect})
    sub->add_option("--processes", o.processes,
                    "Split connections over N processes (default: as the open-file limit needs)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{256}));
  connect->add_option("--concurrency", o.concurrency, "Handshakes in flight per thread")->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 16));
  connect->add_option(
      "--drop-all-at", o.drop_all_at_s,
      "Seconds into the hold (0 < S < --duration) at which every held connection is closed at once, "
      "without a Close frame (a mass disconnect); runs the connections in child processes and "
      "measures an echo probe from the parent");
  connect->add_option("--probe", o.probe,
                      "Needs --drop-all-at. Echo probe connections (default 1) to the first --url, which "
                      "must be an echo endpoint (/echo): round trips through the hold and the drop")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{256}));
  CLI11_PARSE(app, argc, argv);

  o.scenario = echo->parsed()      ? "echo"
               : connect->parsed() ? "connect"
               : slow->parsed()    ? "slow"
               : burst->parsed()   ? "burst"
                                   : "pubsub";
  if (o.scenario != "slow") o.slow_share = 0;
  std::string error;
  if (!load_tokens(*app.get_subcommands().front(), o, error)) {
    std::fprintf(stderr, "shoal-loadgen %s: %s\n", o.scenario.c_str(), error.c_str());
    return 2;
  }
  if ((o.scenario == "pubsub" || o.scenario == "slow") && o.rate <= 0 && o.burst == 0) {
    std::fprintf(stderr, "shoal-loadgen %s: give --rate R or --burst B\n", o.scenario.c_str());
    return 2;
  }
  if (o.scenario == "connect" && connect->count("--probe") > 0 && connect->count("--drop-all-at") == 0) {
    std::fprintf(stderr, "shoal-loadgen connect: --probe needs --drop-all-at (the probe measures the drop)\n");
    return 2;
  }
  if (o.scenario == "connect" && connect->count("--drop-all-at") > 0) {
    if (!(o.drop_all_at_s > 0) || !(o.drop_all_at_s < o.duration_s)) {
      std::fprintf(stderr, "shoal-loadgen connect: --drop-all-at must be more than 0 and less than --duration (%g s)\n",
                   o.duration_s);
      return 2;
    }
    if (o.probe == 0) o.probe = 1;
  }
  std::uint64_t planned = o.scenario == "echo" || o.scenario == "connect" ? o.connections + o.probe
                                                                          : o.subscribers + o.publishers;
  if (o.scenario == "burst")
    planned += o.quiet_topics * o.quiet_subscribers + (o.quiet_topics > 0 ? 1 : 0);
  if (planned > o.max_connections) {
    std::fprintf(stderr,
                 "shoal-loadgen %s: the run would open %llu connections, more than --max-connections %llu\n",
                 o.scenario.c_str(), static_cast<unsigned long long>(planned),
                 static_cast<unsigned long long>(o.max_connections));
    return 2;
  }
  if (o.scenario == "echo" && o.size < 8) {
    std::fprintf(stderr, "shoal-loadgen echo: --size must be >= 8 (the timestamp)\n");
    return 2;
  }
  if (o.urls.empty() && (o.publish_urls.empty() || o.subscribe_urls.empty())) {
    std::fprintf(stderr, "shoal-loadgen %s: give --url URL (or both --publish-url and --subscribe-url)\n",
                 o.scenario.c_str());
    return 2;
  }
  auto plan = resolve_url_plan(o.urls, o.publish_urls, o.subscribe_urls, error);
  if (!plan) {
    std::fprintf(stderr, "shoal-loadgen: %s\n", error.c_str());
    return 2;
  }
  o.targets = std::move(*plan);
  bool any_tls = false, all_ipv4 = true;
  o.targets.for_each([&](const ws_target& t) {
    any_tls = any_tls || t.tls;
    all_ipv4 = all_ipv4 && t.addr.ss_family == AF_INET;
  });
  if (any_tls) {
    tls_client = make_client_tls(o, error);
    if (!tls_client) {
      std::fprintf(stderr, "shoal-loadgen: %s\n", error.c_str());
      return 2;
    }
  }
  std::vector<sockaddr_in> sources;
  if (!o.source.empty()) {
    auto parsed = parse_source_range(o.source, error);
    if (!parsed) {
      std::fprintf(stderr, "shoal-loadgen: --source %s: %s\n", o.source.c_str(), error.c_str());
      return 2;
    }
    if (!all_ipv4) {
      std::fprintf(stderr, "shoal-loadgen: --source needs IPv4 server addresses (every URL's)\n");
      return 2;
    }
    sources = std::move(*parsed);
  }
  const bool pubsub_protocol = o.scenario != "echo" && o.scenario != "connect";
  o.targets.for_each([&](ws_target& t) {
    t.deflate = o.deflate;
    t.token_in = o.tokens.placement;
    if (t.tls) t.tls_ctx = tls_client.get();
    t.sources = sources;
    if (pubsub_protocol) t.protocol = "shoal.v1";
  });
  // What the report names: publishers' and subscribers' lists apart when they were split.
  const bool split_roles = !o.publish_urls.empty() || !o.subscribe_urls.empty();
  const std::vector<std::string>& publish_list = o.publish_urls.empty() ? o.urls : o.publish_urls;
  const std::vector<std::string>& subscribe_list = o.subscribe_urls.empty() ? o.urls : o.subscribe_urls;
  const std::vector<std::string> report_urls =
      split_roles ? distinct_urls({&publish_list, &subscribe_list}) : distinct_urls({&o.urls});

  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // One process's run of the scenario with options `po`; the window starts as `gate` says.
  auto run_one = [&](const options& po, run_report& report, const start_gate& gate = nullptr) {
    report.scenario = po.scenario;
    report.url = report_urls.front();
    report.urls = report_urls;
    if (split_roles) {
      report.publish_urls = publish_list;
      report.subscribe_urls = subscribe_list;
    }
    report.size = po.size;
    if (po.scenario == "burst") {
      report.mode = "pipeline";
      return run_scenario(
          po, [&po](run_control& ctl, unsigned i) { return std::make_unique<burst_worker>(po, ctl, i); },
          burst_drained, g_interrupted, report, burst_drained);
    }
    if (po.scenario == "connect") {
      report.mode = "hold";
      return run_scenario(
          po, [&po](run_control& ctl, unsigned i) { return std::make_unique<connect_worker>(po, ctl, i); },
          [](const run_control&) { return true; }, g_interrupted, report, nullptr, gate);
    }
    if (po.scenario == "echo") {
      report.mode = po.rate > 0 ? "open" : "closed";
      const bool ok = run_scenario(
          po, [&po](run_control& ctl, unsigned i) { return std::make_unique<echo_worker>(po, ctl, i); },
          echo_drained, g_interrupted, report);
      count_intended(po, report);
      return ok;
    }
    report.mode = po.rate > 0 ? "rate" : "burst";  // pubsub and slow
    // slow: first 2 s (or the whole --drain-timeout if shorter) in which the slow subscribers
    // read their backlog (and so see the gap notices or the 1008 Close the policy produced), then
    // as pubsub: until every publish is answered and the fast subscribers have everything, within
    // --drain-timeout (on a busy machine the answers to the last publishes may take longer).
    const double slow_read_s = std::min(2.0, po.drain_timeout_s);
    auto drain_began = std::make_shared<std::int64_t>(0);
    const drained_fn drained =
        po.scenario == "slow"
            ? drained_fn([drain_began, slow_read_s](const run_control& ctl) {
                const std::int64_t now = now_ns();
                if (*drain_began == 0) *drain_began = now;
                return static_cast<double>(now - *drain_began) >= slow_read_s * 1e9 && pubsub_drained(ctl);
              })
            : drained_fn(pubsub_drained);
    const bool ok = run_scenario(
        po, [&po](run_control& ctl, unsigned i) { return std::make_unique<pubsub_worker>(po, ctl, i); },
        drained, g_interrupted, report);
    count_intended(po, report);
    return ok;
  };

  // Past the open-file limit (or with --processes), connections are split over child processes.
  // A drop always splits (one child at least): the parent keeps the probe, which the drop must
  // not touch, and opens the children's gate when the probe and every child are connected.
  const bool drop = o.drop_all_at_s > 0;
  const std::uint64_t per_process = connections_per_process();
  std::uint64_t processes = 1;
  if (o.scenario == "echo" || o.scenario == "connect")
    processes = o.processes > 0 ? o.processes : processes_for(o.connections, per_process);
  run_report report;
  bool ok = false;
  if (processes <= 1 && !drop) {
    ok = run_one(o, report);
  } else {
    if (o.connections / processes > per_process) {
      std::fprintf(stderr, "shoal-loadgen: %llu connections over %llu processes exceed %llu per process\n",
                   static_cast<unsigned long long>(o.connections),
                   static_cast<unsigned long long>(processes),
                   static_cast<unsigned long long>(per_process));
      return 2;
    }
    std::fprintf(stderr, "shoal-loadgen: %llu connections over %llu processes (%llu open files each)\n",
                 static_cast<unsigned long long>(o.connections),
                 static_cast<unsigned long long>(processes),
                 static_cast<unsigned long long>(per_process));
    const auto rss_before = o.server_pid > 0 ? read_rss_bytes(o.server_pid) : std::nullopt;
    const auto child_run = [&](unsigned k, const start_gate& gate, run_report& r) {
      options child = o;  // the same URL lists; child k goes on from where child k-1 stopped
      child.connections = share_of(o.connections, static_cast<unsigned>(processes), k);
      for (unsigned j = 0; j < k; ++j)
        child.first_connection += share_of(o.connections, static_cast<unsigned>(processes), j);
      // Each child sends its connections' share of the rate, so the processes add up to --rate.
      child.rate = o.rate * static_cast<double>(child.connections) / static_cast<double>(o.connections);
      return run_one(child, r, gate);
    };
    // The probe's own run in the parent, started after the forks (threads are allowed there):
    // once its connections are open it waits at the gate for every child, then starts the hold
    // for all of them 50 ms later, so each child has the instant before it comes.
    run_report probe_run;
    bool probe_ok = true;
    const auto probe_during = [&](const open_gate_fn& open_gate) {
      options po = o;
      po.threads = 1;
      po.server_pid = 0;
      probe_ok = run_scenario(
          po, [&po](run_control& ctl, unsigned) { return std::make_unique<echo_probe>(po, ctl); },
          echo_drained, g_interrupted, probe_run, nullptr, [&open_gate]() -> std::int64_t {
            std::int64_t start = 0;
            const unsigned ready = open_gate([&start] { return start = now_ns() + 50'000'000; });
            if (ready == 0) std::fprintf(stderr, "shoal-loadgen: no child process got its connections open\n");
            return ready == 0 ? 0 : start;
          });
    };
    const auto parts = drop ? run_in_children(static_cast<unsigned>(processes), child_run, probe_during)
                            : run_in_children(static_cast<unsigned>(processes), child_run);
    ok = true;
    // A child's run fails as a single process's would (no connection opened, the warm-up timed
    // out): so does the whole run, whose report still holds that child's counts.
    for (const auto& part : parts) {
      if (!part.ok) ok = false;
      if (part.report) merge_report(report, *part.report);
    }
    if (parts.size() != processes) ok = false;
    report.server_rss_before = rss_before;
    report.processes = processes;
    if (!ok)
      std::fprintf(stderr, "shoal-loadgen: a child process failed (see above); the report covers every child that wrote one\n");
    if (drop) {
      report.probe = probe_run.probe.value_or(probe_report{});
      if (!probe_ok && report.probe->error.empty()) report.probe->error = "the probe's run failed (see above)";
      report.interrupted = report.interrupted || probe_run.interrupted;
      if (!report.probe->error.empty()) ok = false;
    }
  }
  std::fputs(format_summary(report).c_str(), stdout);
  if (const std::string warning = missed_rate_warning(report); !warning.empty())
    std::fprintf(stderr, "shoal-loadgen: %s", warning.c_str());
  for (const auto& [path, text] : {std::pair{o.json_path, &format_json}, {o.html_path, &format_html}}) {
    if (path.empty()) continue;
    std::ofstream out(path);
    out << text(report);
    if (!out) {
      std::fprintf(stderr, "shoal-loadgen: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return ok ? 0 : 1;
}
