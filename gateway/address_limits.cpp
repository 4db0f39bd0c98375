// Per-address connection caps and handshake rates (see address_limits.hpp). Every entry is read
// and written under its stripe's mutex; the counters outside the stripes are relaxed atomics
// read only for metrics. Forgetting is lazy: an address with no connection and a full bucket is
// dropped on release when it can be, and otherwise by a sweep of its stripe on a later admit.
#include "gateway/address_limits.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace shoal::gateway {
namespace {

// A stripe at least half full is swept at most this often on admit of a new address, and at
// most every full_sweep_gap_ms when it is full: eviction costs O(stripe) and must stay rare
// even when a peer with many addresses keeps the table full.
constexpr std::uint64_t sweep_gap_ms = 1000;
constexpr std::uint64_t full_sweep_gap_ms = 100;

constexpr std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

bool limited(const address_limit_settings& s) noexcept {
  return s.max_connections_per_address != 0 || s.handshakes_per_second != 0;
}

}  // namespace

std::string_view to_string(address_verdict v) noexcept {
  switch (v) {
    case address_verdict::admitted: return "admitted";
    case address_verdict::too_many_connections: return "too_many_connections";
    case address_verdict::too_many_handshakes: return "too_many_handshakes";
    case address_verdict::table_full: return "table_full";
  }
  return "unknown";
}

std::size_t address_limits::key_hash::operator()(const key& k) const noexcept {
  std::uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, k.bytes.data(), 8);
  std::memcpy(&hi, k.bytes.data() + 8, 8);
  return static_cast<std::size_t>(mix(mix(lo ^ seed0) ^ hi ^ seed1));
}

address_limits::key address_limits::of_ipv4(const std::uint8_t* address) noexcept {
  key k;
  k.bytes[10] = 0xff;  // ::ffff:a.b.c.d
  k.bytes[11] = 0xff;
  std::memcpy(k.bytes.data() + 12, address, 4);
  return k;
}

address_limits::key address_limits::of_ipv6(const std::uint8_t* address) noexcept {
  key k;
  std::memcpy(k.bytes.data(), address, 16);
  return k;
}

address_limits::key address_limits::key_of(const sockaddr* addr) noexcept {
  if (addr == nullptr) return {};
  if (addr->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, addr, sizeof in);
    return of_ipv4(reinterpret_cast<const std::uint8_t*>(&in.sin_addr));
  }
  if (addr->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, addr, sizeof in6);
    return of_ipv6(reinterpret_cast<const std::uint8_t*>(&in6.sin6_addr));
  }
  return {};
}

address_limits::key address_limits::of_peer(int fd) noexcept {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return {};
  return key_of(reinterpret_cast<const sockaddr*>(&peer));
}

address_limits::address_limits(address_limit_settings s) {
  std::random_device random;
  hash_.seed0 = (std::uint64_t{random()} << 32) | random();
  hash_.seed1 = (std::uint64_t{random()} << 32) | random();
  for (stripe& st : stripes_) {
    st.entries = std::unordered_map<key, entry, key_hash>(0, hash_);
    configure(st, s);
  }
  enabled_.store(limited(s), std::memory_order_relaxed);
}

void address_limits::configure(stripe& s, const address_limit_settings& settings) {
  s.settings = settings;
  s.capacity = std::max<std::size_t>(1, (settings.max_addresses + stripe_count - 1) / stripe_count);
}

// Gives the entry's bucket the current rate and burst if they changed since it was made.
void address_limits::sync(entry& e, const address_limit_settings& settings) noexcept {
  const std::uint32_t rate = settings.handshakes_per_second;
  const std::uint32_t burst = settings.handshake_burst != 0 ? settings.handshake_burst : rate;
  if (e.handshakes.rate() != rate || e.handshakes.burst() != burst) {
    e.handshakes.reconfigure(rate, burst);
  }
}

void address_limits::sweep(stripe& s, std::uint64_t now_ms) noexcept {
  for (auto it = s.entries.begin(); it != s.entries.end();) {
    sync(it->second, s.settings);
    if (it->second.connections == 0 && it->second.handshakes.full_at(now_ms)) {
      it = s.entries.erase(it);
      tracked_.fetch_sub(1, std::memory_order_relaxed);
    } else {
      ++it;
    }
  }
  s.last_sweep_ms = now_ms;
}

// The top 6 bits of the hash pick the stripe; the map's buckets use it modulo their count.
address_limits::stripe& address_limits::stripe_for(const key& k) noexcept {
  static_assert(stripe_count == 64 && sizeof(std::size_t) == 8);
  return stripes_[hash_(k) >> 58];
}

const address_limits::stripe& address_limits::stripe_for(const key& k) const noexcept {
  return stripes_[hash_(k) >> 58];
}

address_verdict address_limits::refuse(address_verdict v) noexcept {
  refused_[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
  return v;
}

address_verdict address_limits::admit(const key& k, std::uint64_t now_ms) {
  stripe& s = stripe_for(k);
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(k);
  if (it == s.entries.end()) {
    const bool full = s.entries.size() >= s.capacity;
    const std::uint64_t gap = full ? full_sweep_gap_ms : sweep_gap_ms;
    // Shards read the clock apart, so a slightly older now_ms is normal: it is never "due".
    if (s.entries.size() >= s.capacity / 2 && now_ms >= s.last_sweep_ms &&
        now_ms - s.last_sweep_ms >= gap) {
      sweep(s, now_ms);
    }
    // Without limits only open connections are tracked (their count is bounded by the
    // descriptors), so the bound is not enforced: a full table must not refuse anyone then.
    if (s.entries.size() >= s.capacity && limited(s.settings)) {
      return refuse(address_verdict::table_full);
    }
    it = s.entries.emplace(k, entry{}).first;
    tracked_.fetch_add(1, std::memory_order_relaxed);
  }
  entry& e = it->second;
  sync(e, s.settings);
  const std::uint32_t cap = s.settings.max_connections_per_address;
  if (cap != 0 && e.connections >= cap) return refuse(address_verdict::too_many_connections);
  if (!e.handshakes.take(now_ms)) return refuse(address_verdict::too_many_handshakes);
  ++e.connections;
  return address_verdict::admitted;
}

void address_limits::release(const key& k) noexcept {
  stripe& s = stripe_for(k);
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(k);
  if (it == s.entries.end()) return;
  entry& e = it->second;
  if (e.connections > 0) --e.connections;
  sync(e, s.settings);
  if (e.connections == 0 && e.handshakes.full()) {
    s.entries.erase(it);
    tracked_.fetch_sub(1, std::memory_order_relaxed);
  }
}

std::uint32_t address_limits::connections(const key& k) const noexcept {
  const stripe& s = stripe_for(k);
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(k);
  return it == s.entries.end() ? 0 : it->second.connections;
}

std::uint64_t address_limits::refused(address_verdict v) const noexcept {
  if (v == address_verdict::admitted) return 0;
  return refused_[static_cast<std::size_t>(v)].load(std::memory_order_relaxed);
}

void address_limits::update(address_limit_settings s) {
  for (stripe& st : stripes_) {
    std::lock_guard lock(st.mutex);
    configure(st, s);
  }
  enabled_.store(limited(s), std::memory_order_relaxed);
}

std::string format_address(const address_limits::key& k) {
  static constexpr std::uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(k.bytes.data(), v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
    inet_ntop(AF_INET, k.bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, k.bytes.data(), text, sizeof text);
  }
  return text;
}

void append_address_metrics(std::string& out, const address_limits& limits) {
  out += "# HELP shoal_address_refused_total Connections answered 429 for their client address, by reason\n"
         "# TYPE shoal_address_refused_total counter\n";
  for (const address_verdict v : {address_verdict::too_many_connections,
                                  address_verdict::too_many_handshakes, address_verdict::table_full}) {
    out += "shoal_address_refused_total{reason=\"";
    out += to_string(v);
    out += "\"} ";
    out += std::to_string(limits.refused(v));
    out += '\n';
  }
  out += "# HELP shoal_addresses_tracked Client addresses in the per-address limit table\n"
         "# TYPE shoal_addresses_tracked gauge\nshoal_addresses_tracked ";
  out += std::to_string(limits.tracked());
  out += '\n';
}

}  // namespace shoal::gateway
