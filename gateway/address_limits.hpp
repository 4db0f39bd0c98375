// address_limits: per client address, how many connections are open and how fast handshakes
// come, checked when a connection is accepted. One instance is shared by every shard thread: the
// table is split into 64 stripes, each a mutex and a map (the lock is per accept, not per
// message). Invariant: an address's count is the number of admit() == admitted not yet released;
// the table holds at most about max_addresses addresses that have no open connection.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/token_bucket.hpp"

struct sockaddr;

namespace shoal::gateway {

struct address_limit_settings {
  std::uint32_t max_connections_per_address = 0;  // 0 = no cap
  std::uint32_t handshakes_per_second = 0;        // per address; 0 = no limit
  std::uint32_t handshake_burst = 0;              // 0 -> same as handshakes_per_second
  std::size_t max_addresses = 1'000'000;          // table bound: memory stays bounded
};

enum class address_verdict : std::uint8_t {
  admitted,
  too_many_connections,  // max_connections_per_address open already
  too_many_handshakes,   // handshakes_per_second (with its burst) used up
  table_full,            // max_addresses tracked and none could be forgotten
};

// "admitted", "too_many_connections", "too_many_handshakes", "table_full".
std::string_view to_string(address_verdict v) noexcept;

class address_limits {
 public:
  // An address as 16 bytes: IPv6 as is, IPv4 as its v4-mapped IPv6 form (::ffff:a.b.c.d).
  struct key {
    std::array<std::uint8_t, 16> bytes{};
    bool operator==(const key&) const = default;
  };

  static constexpr std::size_t stripe_count = 64;

  // AF_INET and AF_INET6 (a v4-mapped IPv6 address gives the same key as its IPv4 form); any
  // other family (or null) gives the all-zero key, so such peers share one entry.
  static key key_of(const sockaddr* addr) noexcept;
  // An IPv4 address (4 bytes, network order) as its v4-mapped key; an IPv6 one (16 bytes) as is.
  static key of_ipv4(const std::uint8_t* address) noexcept;
  static key of_ipv6(const std::uint8_t* address) noexcept;
  // The peer of connected socket `fd` (getpeername), or the all-zero key if it cannot be had.
  static key of_peer(int fd) noexcept;

  explicit address_limits(address_limit_settings s);
  address_limits(const address_limits&) = delete;
  address_limits& operator=(const address_limits&) = delete;

  // True if a per-address cap or handshake rate is set. Counts are kept either way, so that a
  // reload turning limits on starts from exact counts; a caller that skips admit() while
  // disabled must skip the matching release() too.
  bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }

  // Checks the cap, then takes a handshake token. On admitted the connection counts until
  // release(k). table_full is only answered while enabled().
  address_verdict admit(const key& k, std::uint64_t now_ms);
  // Exactly once per admitted connection. An address not tracked is ignored.
  void release(const key& k) noexcept;

  // Open connections counted for `k` (0 if not tracked).
  std::uint32_t connections(const key& k) const noexcept;

  std::size_t tracked() const noexcept { return tracked_.load(std::memory_order_relaxed); }
  // Refusals so far with verdict `v` (0 for admitted).
  std::uint64_t refused(address_verdict v) const noexcept;

  // New limits (config reload) from any thread. Counts and token levels are kept; each
  // address's bucket takes the new rate and burst the next time it is looked at.
  void update(address_limit_settings s);

 private:
  struct entry {
    std::uint32_t connections = 0;
    core::token_bucket handshakes;
  };
  struct key_hash {
    std::uint64_t seed0, seed1;  // random per instance: peers cannot pick collisions
    std::size_t operator()(const key& k) const noexcept;
  };
  struct alignas(64) stripe {
    mutable std::mutex mutex;
    std::unordered_map<key, entry, key_hash> entries;  // guarded by mutex
    address_limit_settings settings;                   // guarded by mutex
    std::size_t capacity = 1;                          // this stripe's share of max_addresses
    std::uint64_t last_sweep_ms = 0;
  };

  static void configure(stripe& s, const address_limit_settings& settings);
  static void sync(entry& e, const address_limit_settings& settings) noexcept;
  stripe& stripe_for(const key& k) noexcept;
  const stripe& stripe_for(const key& k) const noexcept;
  void sweep(stripe& s, std::uint64_t now_ms) noexcept;
  address_verdict refuse(address_verdict v) noexcept;

  key_hash hash_{};
  std::array<stripe, stripe_count> stripes_;
  std::atomic<bool> enabled_{false};
  std::atomic<std::size_t> tracked_{0};
  std::array<std::atomic<std::uint64_t>, 4> refused_{};
};

// "203.0.113.7" for an IPv4 (v4-mapped) key, else the RFC 5952 text of the IPv6 address.
std::string format_address(const address_limits::key& k);

// Appends the table's figures in the Prometheus text format: refusals by reason, addresses tracked.
void append_address_metrics(std::string& out, const address_limits& limits);

}  // namespace shoal::gateway
