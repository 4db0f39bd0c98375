// Server start-up and shutdown (see server.hpp). Signals are blocked in every thread and taken
// synchronously by the main thread with sigtimedwait: the first SIGTERM/SIGINT starts the drain
// (stop accepting, /readyz 503, 1001 spread over the drain period), a second one exits at once.
// The same loop tells a service manager what happens (service_notifier.hpp): READY=1 once every
// listener is open and every shard runs, STOPPING=1 when the drain begins, watchdog pings.
#include "gateway/server.hpp"

#if SHOAL_HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#include <sched.h>
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "core/unmask.hpp"
#include "core/utf8.hpp"
#include "gateway/log.hpp"
#include "gateway/service_notifier.hpp"

namespace shoal::gateway {

namespace {
// The backend the shards run. io_uring where asked for, or with `auto` where the kernel defers
// task work to our own io_uring_enter (Linux 6.1+): the set-up that bench/RESULTS.md measured
// ~8 % cheaper per fan-out delivery than epoll, equal per echo, with 20-700x fewer syscalls.
// Anywhere else epoll, with a line saying why: a warning when io_uring was asked for by name.
io_backend choose_io_backend(const server_config& s) {
  if (s.io == io_backend::epoll) return io_backend::epoll;
  std::string why;
  const auto probe = uring_backend::create(shard_uring_options(s), why);
  if (probe && (s.io == io_backend::io_uring || probe->defers_task_work())) return io_backend::io_uring;
  if (probe) why = "no deferred task work before Linux 6.1, a set-up not measured faster";
  log_line(s.io == io_backend::io_uring ? log_level::warn : log_level::info,
           "io_uring unavailable (%s): using epoll", why.c_str());
  return io_backend::epoll;
}

std::uint64_t to_ticks(std::chrono::milliseconds d) {
  const auto ms = static_cast<std::uint64_t>(d.count());
  return (ms + tick_ms - 1) / tick_ms;
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
  return cpus;
}
}  // namespace

connection_settings make_connection_settings(const config& cfg) {
  connection_settings s;
  s.handshake_ticks = to_ticks(cfg.timeouts.handshake);
  s.idle_ticks = to_ticks(cfg.timeouts.idle);
  s.ping_interval_ticks = to_ticks(cfg.timeouts.ping_interval);
  s.pong_timeout_ticks = to_ticks(cfg.timeouts.pong_timeout);
  s.close_ticks = to_ticks(cfg.timeouts.close);
  s.max_message_size = cfg.limits.max_message_size;
  s.max_header_bytes = cfg.limits.max_header_bytes;
  s.max_headers = cfg.limits.max_headers;
  s.high_watermark = cfg.backpressure.high_watermark;
  s.low_watermark = cfg.backpressure.high_watermark / 2;
  s.slow_consumer_limit = cfg.backpressure.slow_consumer_limit;
  s.policy = cfg.backpressure.policy;
  s.max_topics_per_connection = cfg.limits.max_topics_per_connection;
  s.max_topic_length = cfg.pubsub.max_topic_length;
  s.publish_token = cfg.pubsub.publish_token;
  s.allowed_origins = cfg.security.allowed_origins;
  s.subprotocols = cfg.security.subprotocols;
  const limits_config& l = cfg.limits;
  s.messages_per_second = l.messages_per_second;
  s.message_burst = l.message_burst != 0 ? l.message_burst : l.messages_per_second;
  s.bytes_per_second = l.bytes_per_second;
  s.bytes_burst = l.bytes_burst != 0 ? l.bytes_burst
                                    : static_cast<std::uint32_t>(std::min<std::uint64_t>(
                                          std::max<std::uint64_t>(l.bytes_per_second, l.max_message_size),
                                          UINT32_MAX));
  s.rate_limit_strikes = l.rate_limit_strikes;
  s.status_page = cfg.server.status_page;
  const deflate_config& d = cfg.deflate;
  for (const std::string& e : d.endpoints) {
    s.deflate_echo = s.deflate_echo || e == "/echo";
    s.deflate_pubsub = s.deflate_pubsub || e == "/ws";
  }
  s.deflate.enabled = s.deflate_echo || s.deflate_pubsub;
  s.deflate.server_context_takeover = d.server_context_takeover;
  s.deflate.client_context_takeover = d.client_context_takeover;
  s.deflate.server_max_window_bits = static_cast<std::uint8_t>(d.server_max_window_bits);
  s.deflate.client_max_window_bits = static_cast<std::uint8_t>(d.client_max_window_bits);
  s.deflate.mem_level = static_cast<std::uint8_t>(d.mem_level);
  s.deflate.compression_level = static_cast<std::uint8_t>(d.level);
  s.deflate_min_size = d.min_size;
  return s;
}

server::server(const config& cfg) : cfg_(cfg), live_(cfg), settings_(make_connection_settings(cfg)) {}

server::~server() = default;

int server::run() {
  // Every thread inherits this mask; the main thread takes the signals synchronously.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Use every descriptor the hard limit allows; at the limit accept pauses (EMFILE) rather than
  // failing, but say so up front when max_connections cannot be reached.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur != RLIM_INFINITY && cfg_.limits.max_connections + 64 > files.rlim_cur)
      log_line(log_level::warn,
               "limits.max_connections is %u but the open-file limit is %llu: accept will pause "
               "at the limit",
               cfg_.limits.max_connections, static_cast<unsigned long long>(files.rlim_cur));
  }

  // Certificates are checked before anything listens: a bad file is a configuration error.
  if (!cfg_.tls.listen.empty()) {
    std::string error;
    auto tls = tls_context::load(cfg_.tls, error);
    if (!tls) {
      log_line(log_level::error, "config error: %s", error.c_str());
      return 2;
    }
    log_line(log_level::info, "TLS certificates: %s", tls->describe().c_str());
    state_.tls.publish(std::move(tls));
  }

  // So are the JWT keys.
  {
    std::string error;
    auto auth = authenticator::load(cfg_.auth, error);
    if (!auth) {
      log_line(log_level::error, "config error: %s", error.c_str());
      return 2;
    }
    log_line(log_level::info, "auth: %s", auth->summary().c_str());
    state_.auth.publish(std::move(auth));
  }

  const limits_config& l = cfg_.limits;
  if (l.max_connections_per_address != 0 || l.connects_per_address_per_second != 0) {
    address_limit_settings a;
    a.max_connections_per_address = l.max_connections_per_address;
    a.handshakes_per_second = l.connects_per_address_per_second;
    a.handshake_burst = l.connect_burst_per_address;
    state_.addresses = std::make_unique<address_limits>(a);
  }

  // One shoal per address: claimed before any shard listens (listen_guard.hpp).
  std::vector<listen_address> addresses = cfg_.server.listen;
  addresses.insert(addresses.end(), cfg_.tls.listen.begin(), cfg_.tls.listen.end());
  addresses.insert(addresses.end(), cfg_.server.admin_listen.begin(), cfg_.server.admin_listen.end());
  if (!cfg_.server.share_listeners) {
    std::string error;
    if (!guard_.acquire(addresses, error)) {
      log_line(log_level::error, "%s", error.c_str());
      return 1;
    }
  } else {
    std::string held_by;
    guard_.acquire_shared(addresses, held_by);
    if (!held_by.empty())
      log_line(log_level::info,
               "share_listeners: sharing %s with another shoal until it exits (SIGTERM it to "
               "finish the hand-over)",
               held_by.c_str());
  }

  const unsigned count = resolved_shard_count(cfg_.server);
  const std::vector<int> cpus = allowed_cpus();
  // Cross-shard mailboxes: slots per ring (pair of shards and lane). A full ring drops nothing:
  // what does not fit waits in its sender's overflow queue, bounded in bytes (pubsub_hub.hpp).
  constexpr std::size_t mailbox_capacity = 8192;
  mesh_ = std::make_unique<shard_mesh>(count, mailbox_capacity);
  if (!mesh_->ok()) {
    log_line(log_level::error, "eventfd for the shard mailboxes: %s", std::strerror(mesh_->error()));
    return 1;
  }
  if (!cfg_.cluster.nats.empty()) {
    // The cluster link: started before the shards, which use it from their first pass.
    link_ = std::make_unique<cluster_link>(
        cfg_, count, [](void* mesh, unsigned s) { static_cast<shard_mesh*>(mesh)->notify(shard_id(static_cast<std::uint16_t>(s))); },
        mesh_.get());
    std::string error;
    if (!link_->start(error)) {
      log_line(log_level::error, "%s", error.c_str());
      return 2;
    }
    state_.cluster = link_.get();
  }
  const io_backend io = choose_io_backend(cfg_.server);
  for (unsigned i = 0; i < count; ++i) {
    auto s = std::make_unique<shard>(shard_id{static_cast<std::uint16_t>(i)}, count, cfg_,
                                     settings_, state_, *mesh_, io);
    std::string error;
    if (!s->open(error)) {
      log_line(log_level::error, "%s", error.c_str());
      return 1;
    }
    state_.shard_metrics_list.push_back(&s->metrics());
    shards_.push_back(std::move(s));
  }
  for (unsigned i = 0; i < count; ++i) {
    const int cpu = cfg_.server.pin_shards && !cpus.empty() ? cpus[i % cpus.size()] : -1;
    shards_[i]->start(cpu);
  }
  std::string where;
  for (const listen_address& a : cfg_.server.listen) {
    where += ' ';  // two appends, not " " + str: g++ 12 warns falsely on that (-Wrestrict)
    where += format_listen_address(a);
  }
  for (const listen_address& a : cfg_.tls.listen) {
    where += " tls:";
    where += format_listen_address(a);
  }
#if SHOAL_HAVE_MIMALLOC
  const int allocator = mi_version();
#else
  const int allocator = 0;  // sanitizer build: the sanitizer's allocator
#endif
  log_line(log_level::info, "listening on%s with %u shards (%s, unmask %s, utf8 %s, mimalloc %d)",
           where.c_str(), count, std::string(to_string(io)).c_str(), core::unmask_kernel_name(),
           core::utf8_kernel_name(), allocator);
  // Every listener was opened by shard::open() above and every shard thread runs: a client that
  // connects now is served. In a cluster the NATS link may still be connecting; /readyz says so
  // to the balancer, and the service manager need not wait for it (NATS being down must not
  // fail the unit's start, nor restart it in a loop).
  service_notifier notifier;
  const std::string serving = "listening on" + where + ", " + std::to_string(count) + " shards, " +
                              std::string(to_string(io));
  notifier.ready(serving);

  using namespace std::chrono_literals;
  bool draining = false;
  std::uint64_t last_reported = 0;
  auto next_status = service_notifier::clock::now() + 1s;
  for (;;) {
    const auto wait_ms = notifier.max_wait(service_notifier::clock::now(), 100ms);
    timespec wait{0, static_cast<long>(wait_ms.count()) * 1000 * 1000};
    const int sig = ::sigtimedwait(&signals, nullptr, &wait);
    const auto now = service_notifier::clock::now();
    notifier.tick(now);
    if (sig == SIGINT || sig == SIGTERM) {
      if (draining) {
        log_line(log_level::warn, "second signal: exiting without finishing the drain");
        std::_Exit(1);
      }
      draining = true;
      log_line(log_level::info, "signal %d: draining (up to %lld ms)", sig,
               static_cast<long long>(cfg_.timeouts.shutdown_deadline.count()));
      const std::uint64_t held = state_.connections.load(std::memory_order_relaxed);
      notifier.stopping("draining " + std::to_string(held) + " connections (signal " +
                        std::to_string(sig) + ")");
      state_.draining.store(true, std::memory_order_release);
      for (auto& s : shards_) s->wake();
    } else if (sig == SIGHUP) {
      reload_config();
    }
    if (!guard_.complete() && guard_.retry())
      log_line(log_level::info, "share_listeners: the other shoal has exited; this one alone "
                                "holds its addresses now");
    const std::uint64_t open = state_.connections.load(std::memory_order_relaxed);
    if (draining && open == 0) break;
    // `systemctl status` shows the connection count, refreshed at most once a second.
    if (now >= next_status && open != last_reported) {
      notifier.status(draining ? "draining, " + std::to_string(open) + " connections left"
                               : serving + ", " + std::to_string(open) + " connections");
      last_reported = open;
      next_status = now + 1s;
    }
  }
  for (auto& s : shards_) {
    s->wake();
    s->join();
  }
  shards_.clear();  // after every thread stopped: each frees what is left in its mailbox
  if (link_) link_->stop();
  log_line(log_level::info, "stopped");
  return 0;
}

namespace {
// What SIGHUP may change while running: read per connection or per request through
// connection_settings (new connections and sessions take them; the backpressure thresholds and
// the slow-consumer policy apply to every connection from the next loop pass), the per-address table's own
// update(), the log level, and the certificate and key files (re-read below). Everything else
// is read by the shards from the configuration they started with.
bool reloadable(std::string_view key, bool address_limits_on) {
  static constexpr std::string_view keys[] = {
      "limits.messages_per_second", "limits.message_burst", "limits.bytes_per_second",
      "limits.bytes_burst", "limits.rate_limit_strikes", "limits.max_topics_per_connection",
      "security.allowed_origins", "pubsub.publish_token", "log.level",
      "backpressure.high_watermark", "backpressure.slow_consumer_limit", "backpressure.policy",
      "tls.cert", "tls.key", "tls.chain", "tls.sni_certificates", "tls.min_version", "tls.ciphers",
      "server.status_page"};
  if (key.starts_with("auth.")) return true;
  if (address_limits_on && (key == "limits.max_connections_per_address" ||
                            key == "limits.connects_per_address_per_second" ||
                            key == "limits.connect_burst_per_address"))
    return true;  // the table exists: its limits change in place (0 turns one off)
  return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
}

std::string joined(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}
}  // namespace

void server::reload_config() {
  if (argv_ != nullptr) apply_config_file();
  // The certificate and key files of the configuration in force, changed or not (a renewed
  // certificate is taken even when the config file has a typo).
  reload_tls();
  reload_auth();
}

void server::apply_config_file() {
  const config_result next = load_config(argc_, argv_);
  if (next.action != config_action::run) {
    std::string why = next.output;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    log_line(log_level::error, "SIGHUP: keeping the running configuration: %s", why.c_str());
    return;
  }
  std::vector<std::string> applied, restart;
  const config merged = with_reloaded(
      live_, next.settings,
      [this](std::string_view key) { return reloadable(key, state_.addresses != nullptr); }, applied,
      restart);
  if (!applied.empty()) {
    // Checked whole before anything changes: the merge mixes new values with running ones, and a
    // key file that does not load keeps everything as it was (reload_auth reads them for shards).
    std::string error;
    for (const config_issue& i : validate(merged)) error += (error.empty() ? "" : "; ") + i.key + ": " + i.problem;
    if (error.empty()) authenticator::load(merged.auth, error);
    if (!error.empty()) {
      log_line(log_level::error, "SIGHUP: keeping the running configuration: %s", error.c_str());
      return;
    }
    if (state_.addresses) {
      address_limit_settings a;
      a.max_connections_per_address = merged.limits.max_connections_per_address;
      a.handshakes_per_second = merged.limits.connects_per_address_per_second;
      a.handshake_burst = merged.limits.connect_burst_per_address;
      state_.addresses->update(a);
    }
    set_log_level(merged.log.level);
    live_ = merged;
    state_.reloaded_settings.publish(std::make_shared<const connection_settings>(make_connection_settings(live_)));
    log_line(log_level::info, "SIGHUP: applied %s (new connections and sessions take them)",
             joined(applied).c_str());
  }
  if (!restart.empty())
    log_line(log_level::warn, "SIGHUP: not applied, these need a restart: %s", joined(restart).c_str());
  if (applied.empty() && restart.empty()) log_line(log_level::info, "SIGHUP: the configuration is unchanged");
}

void server::reload_tls() {
  if (cfg_.tls.listen.empty()) {
    log_line(log_level::info, "SIGHUP: no TLS listener, nothing to reload");
    return;
  }
  // New handshakes get the new certificates; open connections keep theirs. A file that does not
  // load leaves the old certificates in place.
  std::string error;
  auto tls = tls_context::load(live_.tls, error);
  if (!tls) {
    log_line(log_level::error, "SIGHUP: keeping the previous TLS certificates: %s", error.c_str());
    return;
  }
  log_line(log_level::info, "SIGHUP: reloaded TLS certificates: %s", tls->describe().c_str());
  state_.tls.publish(std::move(tls));
}

void server::reload_auth() {
  // New connections and `auth` messages use the new keys; open connections keep what their
  // token granted until it expires. Keys that do not load leave the old ones in place.
  std::string error;
  auto auth = authenticator::load(live_.auth, error);
  if (!auth) {
    log_line(log_level::error, "SIGHUP: keeping the previous JWT keys: %s", error.c_str());
    return;
  }
  log_line(log_level::info, "SIGHUP: reloaded auth: %s", auth->summary().c_str());
  state_.auth.publish(std::move(auth));
}

}  // namespace shoal::gateway
