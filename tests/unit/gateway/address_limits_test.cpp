// Tests for address_limits: the per-address cap and its release, independent addresses, IPv4
// equal to its v4-mapped form, the handshake rate refilled by time, the table bound with its
// eviction, live updates, address text and refusal counters; and admit/release from several
// threads at once with exact final counts (also run under TSan).
#include "gateway/address_limits.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <deque>
#include <thread>
#include <vector>

namespace shoal::gateway {
namespace {

using key = address_limits::key;
using verdict = address_verdict;

key v4(const char* text) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(443);
  EXPECT_EQ(inet_pton(AF_INET, text, &in.sin_addr), 1) << text;
  return address_limits::key_of(reinterpret_cast<const sockaddr*>(&in));
}

key v6(const char* text) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(443);
  EXPECT_EQ(inet_pton(AF_INET6, text, &in6.sin6_addr), 1) << text;
  return address_limits::key_of(reinterpret_cast<const sockaddr*>(&in6));
}

// The n-th of many distinct IPv6 addresses.
key nth(std::uint32_t n) {
  key k = v6("2001:db8::");
  std::memcpy(k.bytes.data() + 12, &n, sizeof n);
  return k;
}

address_limit_settings cap(std::uint32_t n) {
  address_limit_settings s;
  s.max_connections_per_address = n;
  return s;
}

address_limit_settings rate(std::uint32_t per_second, std::uint32_t burst) {
  address_limit_settings s;
  s.handshakes_per_second = per_second;
  s.handshake_burst = burst;
  return s;
}

TEST(AddressLimits, CapPerAddress) {
  address_limits limits(cap(2));
  EXPECT_TRUE(limits.enabled());
  const key a = v4("203.0.113.7");
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_connections);
  EXPECT_EQ(limits.admit(a, 1'000'000), verdict::too_many_connections);
  EXPECT_EQ(limits.connections(a), 2u);
  EXPECT_EQ(limits.refused(verdict::too_many_connections), 2u);
  EXPECT_EQ(limits.tracked(), 1u);
}

TEST(AddressLimits, ReleaseFreesASlotAndForgets) {
  address_limits limits(cap(1));
  const key a = v4("198.51.100.1");
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_connections);
  limits.release(a);
  EXPECT_EQ(limits.connections(a), 0u);
  EXPECT_EQ(limits.tracked(), 0u);  // no connection and no rate: nothing to remember
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  limits.release(a);
  limits.release(a);  // one too many, and an unknown address: ignored
  limits.release(v4("198.51.100.2"));
  EXPECT_EQ(limits.tracked(), 0u);
}

TEST(AddressLimits, DifferentAddressesAreIndependent) {
  address_limits limits(cap(1));
  const key a = v4("192.0.2.1"), b = v4("192.0.2.2"), c = v6("2001:db8::1");
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(b, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(c, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_connections);
  EXPECT_EQ(limits.tracked(), 3u);
  limits.release(b);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_connections);
  EXPECT_EQ(limits.admit(b, 0), verdict::admitted);
}

TEST(AddressLimits, V4AndV4MappedAreEqual) {
  const key plain = v4("203.0.113.7");
  const key mapped = v6("::ffff:203.0.113.7");
  EXPECT_EQ(plain, mapped);
  EXPECT_FALSE(plain == v6("::203.0.113.7"));  // the deprecated v4-compatible form is not
  address_limits limits(cap(1));
  EXPECT_EQ(limits.admit(plain, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(mapped, 0), verdict::too_many_connections);
}

TEST(AddressLimits, OtherFamiliesGiveTheZeroKey) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_EQ(address_limits::key_of(reinterpret_cast<const sockaddr*>(&un)), key{});
  EXPECT_EQ(address_limits::key_of(nullptr), key{});
  EXPECT_EQ(format_address(key{}), "::");
}

TEST(AddressLimits, HandshakeRateRefusedThenRefilled) {
  address_limits limits(rate(2, 2));
  const key a = v6("2001:db8::7");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(limits.admit(a, 1000), verdict::admitted);
    limits.release(a);
  }
  EXPECT_EQ(limits.admit(a, 1000), verdict::too_many_handshakes);
  EXPECT_EQ(limits.admit(a, 1499), verdict::too_many_handshakes);
  EXPECT_EQ(limits.admit(a, 1500), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 1500), verdict::too_many_handshakes);
  EXPECT_EQ(limits.refused(verdict::too_many_handshakes), 3u);
  EXPECT_EQ(limits.admit(v6("2001:db8::8"), 1500), verdict::admitted);  // its own bucket
}

TEST(AddressLimits, HandshakeBurstDefaultsToRate) {
  address_limits limits(rate(3, 0));
  const key a = v4("192.0.2.9");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_handshakes);
  EXPECT_EQ(limits.connections(a), 3u);
}

TEST(AddressLimits, CapIsCheckedBeforeTakingAHandshake) {
  address_limit_settings s = rate(1, 1);
  s.max_connections_per_address = 1;
  address_limits limits(s);
  const key a = v4("192.0.2.10");
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 5000), verdict::too_many_connections);  // no token spent
  limits.release(a);
  EXPECT_EQ(limits.admit(a, 5000), verdict::admitted);
}

TEST(AddressLimits, TableFullThenEvictsForgettableAddresses) {
  address_limit_settings s = rate(1, 1);
  s.max_addresses = address_limits::stripe_count;  // one address per stripe
  address_limits limits(s);
  std::vector<key> admitted;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const verdict v = limits.admit(nth(i), 0);
    ASSERT_TRUE(v == verdict::admitted || v == verdict::table_full);
    if (v == verdict::admitted) admitted.push_back(nth(i));
  }
  EXPECT_GT(admitted.size(), 0u);
  EXPECT_LE(admitted.size(), address_limits::stripe_count);
  EXPECT_EQ(limits.tracked(), admitted.size());
  EXPECT_EQ(limits.refused(verdict::table_full), 1000 - admitted.size());

  // Released, but each bucket is still short of the token it gave: remembered.
  const key kept_open = admitted.back();
  for (std::size_t i = 0; i + 1 < admitted.size(); ++i) limits.release(admitted[i]);
  EXPECT_EQ(limits.tracked(), admitted.size());
  std::size_t late = 0;
  for (std::uint32_t i = 1000; i < 2000; ++i) {
    late += limits.admit(nth(i), 500) == verdict::admitted;
  }
  EXPECT_EQ(late, 0u);

  // A second later the buckets are full: the closed addresses can be forgotten, the open not.
  std::size_t admitted_later = 0;
  for (std::uint32_t i = 2000; i < 3000; ++i) {
    admitted_later += limits.admit(nth(i), 1500) == verdict::admitted;
  }
  EXPECT_GE(admitted_later, admitted.size() - 1);
  EXPECT_LE(limits.tracked(), address_limits::stripe_count);
  EXPECT_EQ(limits.connections(kept_open), 1u);
}

TEST(AddressLimits, NoTableBoundWithoutLimits) {
  address_limit_settings s;
  s.max_addresses = address_limits::stripe_count;
  address_limits limits(s);
  EXPECT_FALSE(limits.enabled());
  for (std::uint32_t i = 0; i < 1000; ++i) EXPECT_EQ(limits.admit(nth(i), 0), verdict::admitted);
  EXPECT_EQ(limits.tracked(), 1000u);  // counted anyway, so that a reload starts exact
  for (std::uint32_t i = 0; i < 1000; ++i) limits.release(nth(i));
  EXPECT_EQ(limits.tracked(), 0u);
  EXPECT_EQ(limits.refused(verdict::table_full), 0u);
}

TEST(AddressLimits, UpdateChangesLimitsLive) {
  address_limits limits(address_limit_settings{});
  const key a = v4("192.0.2.50");
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);  // admitted before any limit
  limits.update(cap(2));
  EXPECT_TRUE(limits.enabled());
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_connections);  // the first one counts
  limits.update(cap(3));
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_connections);

  address_limit_settings r = rate(1, 1);
  limits.update(r);  // no cap now, one handshake a second
  EXPECT_EQ(limits.admit(a, 10), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 10), verdict::too_many_handshakes);
  EXPECT_EQ(limits.admit(a, 1010), verdict::admitted);
  EXPECT_EQ(limits.connections(a), 5u);

  limits.update(address_limit_settings{});
  EXPECT_FALSE(limits.enabled());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limits.admit(a, 1010), verdict::admitted);
  for (int i = 0; i < 15; ++i) limits.release(a);
  EXPECT_EQ(limits.tracked(), 0u);
}

TEST(AddressLimits, FormatAddress) {
  EXPECT_EQ(format_address(v4("203.0.113.7")), "203.0.113.7");
  EXPECT_EQ(format_address(v6("::ffff:10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(format_address(v4("0.0.0.0")), "0.0.0.0");
  EXPECT_EQ(format_address(v6("2001:0db8:0000:0000:0000:0000:0000:0001")), "2001:db8::1");
  EXPECT_EQ(format_address(v6("::1")), "::1");
  EXPECT_EQ(format_address(v6("2001:db8:0:1:1:1:1:1")), "2001:db8:0:1:1:1:1:1");
  EXPECT_EQ(format_address(v6("fe80::AB:cd")), "fe80::ab:cd");
}

TEST(AddressLimits, VerdictNames) {
  EXPECT_EQ(to_string(verdict::admitted), "admitted");
  EXPECT_EQ(to_string(verdict::too_many_connections), "too_many_connections");
  EXPECT_EQ(to_string(verdict::too_many_handshakes), "too_many_handshakes");
  EXPECT_EQ(to_string(verdict::table_full), "table_full");
}

TEST(AddressLimits, RefusedCountersPerVerdict) {
  address_limit_settings s = rate(1, 1);
  s.max_connections_per_address = 1;
  address_limits limits(s);
  const key a = v4("192.0.2.77");
  EXPECT_EQ(limits.admit(a, 0), verdict::admitted);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_connections);
  limits.release(a);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_handshakes);
  EXPECT_EQ(limits.admit(a, 0), verdict::too_many_handshakes);
  EXPECT_EQ(limits.refused(verdict::admitted), 0u);
  EXPECT_EQ(limits.refused(verdict::too_many_connections), 1u);
  EXPECT_EQ(limits.refused(verdict::too_many_handshakes), 2u);
  EXPECT_EQ(limits.refused(verdict::table_full), 0u);
}

// Threads admit and release one shared address (capped, so some are refused) and addresses of
// their own; each keeps what it holds, and the table's counts must equal the sums exactly.
TEST(AddressLimits, ConcurrentAdmitRelease) {
  constexpr int threads = 4;
  constexpr int iterations = 20'000;
  constexpr std::uint32_t own_keys = 50;
  address_limit_settings s = cap(16);
  s.max_addresses = 4096;
  address_limits limits(s);
  const key shared = v4("192.0.2.200");

  struct held {
    std::deque<key> open;
    std::size_t shared = 0;
    std::vector<std::uint32_t> own = std::vector<std::uint32_t>(own_keys, 0);
  };
  std::vector<held> state(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      held& h = state[static_cast<std::size_t>(t)];
      for (int i = 0; i < iterations; ++i) {
        const auto now = static_cast<std::uint64_t>(i);
        if (limits.admit(shared, now) == verdict::admitted) {
          h.open.push_back(shared);
          ++h.shared;
        }
        const std::uint32_t n = static_cast<std::uint32_t>(i) % own_keys;
        const key own = nth(static_cast<std::uint32_t>(t) * 1000 + n);
        if (limits.admit(own, now) == verdict::admitted) {
          h.open.push_back(own);
          ++h.own[n];
        }
        while (h.open.size() > 10) {
          const key k = h.open.front();
          h.open.pop_front();
          limits.release(k);
          if (k == shared) {
            --h.shared;
          } else {
            std::uint32_t m = 0;
            std::memcpy(&m, k.bytes.data() + 12, sizeof m);
            --h.own[m % 1000];
          }
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();

  std::size_t shared_open = 0;
  for (const held& h : state) shared_open += h.shared;
  EXPECT_LE(shared_open, 16u);
  EXPECT_EQ(limits.connections(shared), shared_open);
  for (int t = 0; t < threads; ++t) {
    for (std::uint32_t n = 0; n < own_keys; ++n) {
      EXPECT_EQ(limits.connections(nth(static_cast<std::uint32_t>(t) * 1000 + n)),
                state[static_cast<std::size_t>(t)].own[n]);
    }
  }
  EXPECT_GT(limits.refused(verdict::too_many_connections), 0u);
  for (held& h : state) {
    for (const key& k : h.open) limits.release(k);
  }
  EXPECT_EQ(limits.connections(shared), 0u);
  EXPECT_EQ(limits.tracked(), 0u);
}

}  // namespace
}  // namespace shoal::gateway
