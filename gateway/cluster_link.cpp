// The link to NATS JetStream (see cluster_link.hpp): connection, its events, and stream set-up.
// The queues between the shards and the NATS client's threads are in cluster_link_queues.cpp.
#include "gateway/cluster_link.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "gateway/log.hpp"

namespace shoal::gateway {

namespace {

std::string random_uid() {
  std::uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r))
    r = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        static_cast<std::uint64_t>(::getpid());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "shoal";
  return buf;
}

std::string nats_error(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return std::string(natsStatus_GetText(s)) + (last && *last ? std::string(": ") + last : std::string());
}

}  // namespace

void link_event_deleter::operator()(link_event* e) const noexcept {
  if (e->msg) natsMsg_Destroy(e->msg);
  delete e;
}

cluster_link::cluster_link(const config& cfg, unsigned shards, notify_fn notify, void* arg)
    : cfg_(cfg),
      shards_(shards),
      notify_(notify),
      notify_arg_(arg),
      node_name_(cfg.cluster.node_name.empty() ? host_name() : cfg.cluster.node_name),
      uid_(random_uid()),
      direct_get_subject_("$JS.API.DIRECT.GET." + cfg.cluster.stream),
      inbox_(std::make_unique<inbox[]>(shards)) {}

cluster_link::~cluster_link() {
  stop();
  for (unsigned s = 0; s < shards_; ++s)
    while (pop(s)) {
    }
}

std::string cluster_link::stored_subject(std::string_view topic) const {
  // Topic names are already NATS subjects: their characters (A-Z a-z 0-9 . _ : - /) include
  // none NATS reserves (space, *, >), and `.` only between non-empty segments, which NATS reads
  // as token separators just as Shoal reads them as segment separators. So a topic maps to
  // one subject and back with no escaping (README, "Cluster").
  std::string s;
  s.reserve(cfg_.cluster.subject_prefix.size() + 3 + topic.size());
  s.append(cfg_.cluster.subject_prefix).append(".t.").append(topic);
  return s;
}

std::string cluster_link::live_subject(std::string_view topic) const {
  std::string s;
  s.reserve(cfg_.cluster.subject_prefix.size() + 6 + topic.size());
  s.append(cfg_.cluster.subject_prefix).append(".live.").append(topic);
  return s;
}

std::string cluster_link::reply_subject(unsigned s, std::uint64_t req) const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "_SHOAL.%s.%u.%llu", uid_.c_str(), s, static_cast<unsigned long long>(req));
  return buf;
}

bool cluster_link::start(std::string& error) {
  const auto& cl = cfg_.cluster;
  natsStatus st = natsOptions_Create(&opts_);
  std::vector<const char*> servers;
  for (const std::string& u : cl.nats) servers.push_back(u.c_str());
  if (st == NATS_OK) st = natsOptions_SetServers(opts_, servers.data(), static_cast<int>(servers.size()));
  const std::string name = "shoal " + node_name_;
  if (st == NATS_OK) st = natsOptions_SetName(opts_, name.c_str());
  // Reconnect for ever, quickly, with jitter; while disconnected nothing is buffered for later
  // (a publish then fails at once with `unavailable` instead of going out minutes late).
  if (st == NATS_OK) st = natsOptions_SetMaxReconnect(opts_, -1);
  if (st == NATS_OK) st = natsOptions_SetReconnectWait(opts_, 250);
  if (st == NATS_OK) st = natsOptions_SetReconnectJitter(opts_, 100, 1000);
  if (st == NATS_OK) st = natsOptions_SetReconnectBufSize(opts_, 0);
  if (st == NATS_OK) st = natsOptions_SetPingInterval(opts_, 2'000);
  if (st == NATS_OK) st = natsOptions_SetMaxPingsOut(opts_, 2);
  // One pool thread delivers every subscription's messages (not a thread per topic).
  if (st == NATS_OK) st = natsOptions_UseGlobalMessageDelivery(opts_, true);
  // Sent by the writer thread as soon as it is given (see cluster_link.hpp).
  if (st == NATS_OK) st = natsOptions_SetSendAsap(opts_, true);
  if (st == NATS_OK) st = natsOptions_SetRetryOnFailedConnect(opts_, true, &on_connected, this);
  if (st == NATS_OK) st = natsOptions_SetReconnectedCB(opts_, &on_connected, this);
  if (st == NATS_OK) st = natsOptions_SetDisconnectedCB(opts_, &on_disconnected, this);
  if (st == NATS_OK) st = natsOptions_SetClosedCB(opts_, &on_closed, this);
  if (st == NATS_OK) st = natsOptions_SetErrorHandler(opts_, &on_error, this);
  if (st != NATS_OK) {
    error = "cluster: NATS options: " + nats_error(st);
    return false;
  }
  if (!cl.credentials.empty()) {
    st = natsOptions_SetUserCredentialsFromFiles(opts_, cl.credentials.c_str(), nullptr);
    if (st != NATS_OK) {
      error = "cluster.credentials: " + cl.credentials + ": " + nats_error(st);
      return false;
    }
  }
  if (!cl.tls_ca.empty()) {
    st = natsOptions_LoadCATrustedCertificates(opts_, cl.tls_ca.c_str());
    if (st == NATS_OK) st = natsOptions_SetSecure(opts_, true);
    if (st != NATS_OK) {
      error = "cluster.tls_ca: " + cl.tls_ca + ": " + nats_error(st);
      return false;
    }
  }
  if (!cl.tls_cert.empty()) {
    st = natsOptions_LoadCertificatesChain(opts_, cl.tls_cert.c_str(), cl.tls_key.c_str());
    if (st == NATS_OK) st = natsOptions_SetSecure(opts_, true);
    if (st != NATS_OK) {
      error = "cluster.tls_cert/tls_key: " + cl.tls_cert + ", " + cl.tls_key + ": " + nats_error(st);
      return false;
    }
  }
  st = natsConnection_Connect(&nc_, opts_);
  if (st == NATS_OK) {
    connected_.store(true, std::memory_order_release);
    max_payload_.store(static_cast<std::size_t>(natsConnection_GetMaxPayload(nc_)), std::memory_order_relaxed);
    check_stream_ = true;
  } else if (st == NATS_NOT_YET_CONNECTED) {
    log_line(log_level::warn, "cluster: NATS (%s) is not reachable yet; retrying in the background",
             cl.nats.front().c_str());
  } else {
    error = "cluster: connecting to NATS: " + nats_error(st);
    return false;
  }
  st = natsConnection_JetStream(&js_, nc_, nullptr);
  for (unsigned s = 0; s < shards_ && st == NATS_OK; ++s) {
    char subject[96];
    std::snprintf(subject, sizeof subject, "_SHOAL.%s.%u.*", uid_.c_str(), s);
    inbox_[s].link = this;
    inbox_[s].shard = s;
    st = natsConnection_Subscribe(&inbox_[s].replies, nc_, subject, &on_reply, &inbox_[s]);
    if (st == NATS_OK) st = natsSubscription_SetPendingLimits(inbox_[s].replies, -1, -1);
  }
  if (st != NATS_OK) {
    error = "cluster: NATS subscriptions: " + nats_error(st);
    return false;
  }
  thread_ = std::thread([this] { stream_loop(); });
  writer_ = std::thread([this] { writer_loop(); });
  log_line(log_level::info, "cluster: node %s (uid %s), stream %s, subjects %s.t.>", node_name_.c_str(),
           uid_.c_str(), cl.stream.c_str(), cl.subject_prefix.c_str());
  return true;
}

void cluster_link::stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  wake_.fetch_add(1, std::memory_order_seq_cst);
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();  // it unsubscribes what it watched
  while (link_command* c = commands_.pop()) {
    if (c->msg) natsMsg_Destroy(c->msg);
    delete c;
  }
  ready_.store(false, std::memory_order_release);
  if (nc_) natsConnection_Close(nc_);  // a delivery waiting for room sees stopping_ and drops
  for (unsigned s = 0; s < shards_; ++s) {
    if (inbox_[s].replies) natsSubscription_Destroy(inbox_[s].replies);
    inbox_[s].replies = nullptr;
  }
  if (js_) jsCtx_Destroy(js_);
  js_ = nullptr;
  if (nc_) natsConnection_Destroy(nc_);
  nc_ = nullptr;
  if (opts_) natsOptions_Destroy(opts_);
  opts_ = nullptr;
}

// ---- Connection events (the NATS client's callback thread) --------------------------------

void cluster_link::on_connected(natsConnection* nc, void* self) {
  auto* l = static_cast<cluster_link*>(self);
  l->max_payload_.store(static_cast<std::size_t>(natsConnection_GetMaxPayload(nc)), std::memory_order_relaxed);
  l->connected_.store(true, std::memory_order_release);
  char url[256] = {};
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  log_line(log_level::info, "cluster: connected to NATS at %s", url);
  std::lock_guard lock(l->mu_);
  l->check_stream_ = true;  // the stream may be new (a NATS server without its store)
  l->cv_.notify_all();
}

void cluster_link::on_disconnected(natsConnection*, void* self) {
  auto* l = static_cast<cluster_link*>(self);
  if (l->stopping_.load(std::memory_order_acquire)) return;
  l->disconnects_.fetch_add(1, std::memory_order_relaxed);
  log_line(log_level::warn, "cluster: disconnected from NATS; publishes fail with `unavailable` until "
                            "it is back");
  l->link_lost();
}

void cluster_link::on_closed(natsConnection*, void* self) {
  static_cast<cluster_link*>(self)->link_lost();
}

void cluster_link::link_lost() {
  connected_.store(false, std::memory_order_release);
  ready_.store(false, std::memory_order_release);
  for (unsigned s = 0; s < shards_; ++s) notify_(notify_arg_, s);
}

void cluster_link::on_error(natsConnection*, natsSubscription* sub, natsStatus err, void* self) {
  auto* l = static_cast<cluster_link*>(self);
  if (err == NATS_SLOW_CONSUMER && sub) {
    // The client dropped messages of a subscription: live copies the shards will miss. A new
    // generation makes every shard check its topics against the stream and fetch the rest.
    const std::uint64_t n = l->slow_drops_.fetch_add(1, std::memory_order_relaxed);
    if (n % 1000 == 0)
      log_line(log_level::warn, "cluster: NATS dropped live messages (slow consumer); topics are "
                                "being repaired from the stream");
    l->generation_.fetch_add(1, std::memory_order_acq_rel);
    for (unsigned s = 0; s < l->shards_; ++s) l->notify_(l->notify_arg_, s);
    return;
  }
  log_line(log_level::warn, "cluster: NATS error: %s", natsStatus_GetText(err));
}

// ---- The stream ---------------------------------------------------------------------------

void cluster_link::stream_loop() {
  std::string last_error;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_.load() || check_stream_; });
      if (stopping_.load()) return;
      check_stream_ = false;
    }
    std::string error;
    if (connected_.load(std::memory_order_acquire) && ensure_stream(error)) {
      last_error.clear();
      generation_.fetch_add(1, std::memory_order_acq_rel);
      ready_.store(true, std::memory_order_release);
      log_line(log_level::info, "cluster: stream %s ready; the node is part of the cluster",
               cfg_.cluster.stream.c_str());
      for (unsigned s = 0; s < shards_; ++s) notify_(notify_arg_, s);
      continue;
    }
    if (!error.empty() && error != last_error) {
      log_line(log_level::error, "cluster: %s (retrying every second)", error.c_str());
      last_error = error;
    }
    // Retry while connected; a new connection sets check_stream_ again anyway.
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_.load() || check_stream_; });
    if (connected_.load() && !ready_.load()) check_stream_ = true;
  }
}

bool cluster_link::ensure_stream(std::string& error) {
  const auto& cl = cfg_.cluster;
  const std::string stored = cl.subject_prefix + ".t.>";
  const std::string live = cl.subject_prefix + ".live.>";
  const char* subjects[] = {stored.c_str()};
  jsRePublish rp;
  jsRePublish_Init(&rp);
  rp.Source = stored.c_str();
  rp.Destination = live.c_str();
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = cl.stream.c_str();
  sc.Description = "Shoal topics: history and live copies (managed by shoal)";
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Retention = js_LimitsPolicy;
  sc.Storage = js_FileStorage;
  sc.Discard = js_DiscardOld;
  sc.Replicas = cl.replicas;
  sc.MaxMsgsPerSubject = cl.max_records_per_topic == 0 ? -1 : static_cast<int64_t>(cl.max_records_per_topic);
  sc.MaxBytes = cl.max_bytes == 0 ? -1 : static_cast<int64_t>(cl.max_bytes);
  sc.MaxAge = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(cl.max_age).count());
  sc.Duplicates = static_cast<int64_t>(std::chrono::nanoseconds(std::chrono::minutes(2)).count());
  sc.RePublish = &rp;
  sc.AllowDirect = true;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 10'000;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus st = js_AddStream(&si, js_, &sc, &jo, &jerr);
  if (st != NATS_OK && jerr == JSStreamNameExistErr) {
    // It exists with other settings: make it what this node's configuration says. Every node
    // should say the same; the last one started wins, and says so.
    st = js_UpdateStream(&si, js_, &sc, &jo, &jerr);
    if (st == NATS_OK)
      log_line(log_level::info, "cluster: stream %s updated to this node's settings", cl.stream.c_str());
  }
  if (si) jsStreamInfo_Destroy(si);
  if (st != NATS_OK) {
    error = "stream " + cl.stream + ": " + nats_error(st) + (jerr ? " (JetStream error " + std::to_string(jerr) + ")" : "");
    return false;
  }
  return true;
}

void cluster_link::append_metrics(std::string& out) const {
  out += "# HELP shoal_cluster_link_up 1 while connected to NATS with the stream set up\n"
         "# TYPE shoal_cluster_link_up gauge\nshoal_cluster_link_up ";
  out += ready() ? "1\n" : "0\n";
  out += "# HELP shoal_cluster_disconnects_total Times the connection to NATS was lost\n"
         "# TYPE shoal_cluster_disconnects_total counter\nshoal_cluster_disconnects_total ";
  out += std::to_string(disconnects());
  out += "\n# HELP shoal_cluster_slow_consumer_total Times NATS dropped live copies for this node "
         "(repaired from the stream)\n# TYPE shoal_cluster_slow_consumer_total counter\n"
         "shoal_cluster_slow_consumer_total ";
  out += std::to_string(slow_consumer_drops());
  out += '\n';
}

}  // namespace shoal::gateway
