// Single-value parsers and formatters of the config (durations, listen addresses, enums), the
// key list and the SIGHUP merge; validate() is in config_validate.cpp.
// Pure functions (resolved_shard_count() asks the kernel for the affinity mask); any thread.
// Parsers return the problem without the key; callers prefix the key or flag.
#include "gateway/config.hpp"

#include <arpa/inet.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/topic_pattern.hpp"
#include "gateway/config_fields.hpp"
#include "gateway/network_list.hpp"

namespace shoal::gateway {
namespace {

using std::chrono::milliseconds;


template <class E, std::size_t N>
using name_table = std::array<std::pair<std::string_view, E>, N>;

constexpr name_table<io_backend, 3> io_backend_names{{
    {"auto", io_backend::automatic},
    {"epoll", io_backend::epoll},
    {"io_uring", io_backend::io_uring},
}};
constexpr name_table<slow_consumer_policy, 3> policy_names{{
    {"drop", slow_consumer_policy::drop},
    {"close", slow_consumer_policy::close},
    {"conflate", slow_consumer_policy::conflate},
}};
constexpr name_table<log_level, 4> log_level_names{{
    {"error", log_level::error},
    {"warn", log_level::warn},
    {"info", log_level::info},
    {"debug", log_level::debug},
}};

template <class E, std::size_t N>
value_result<E> parse_enum(const name_table<E, N>& names, std::string_view text) {
  for (const auto& [name, value] : names) {
    if (name == text) return {value, {}};
  }
  std::string problem = "must be one of";
  for (std::size_t i = 0; i < N; ++i) {
    problem += (i == 0 ? " " : i + 1 == N ? " or " : ", ");
    problem += names[i].first;
  }
  return {std::nullopt, std::move(problem)};
}

template <class E, std::size_t N>
std::string_view enum_name(const name_table<E, N>& names, E value) noexcept {
  for (const auto& [name, v] : names) {
    if (v == value) return name;
  }
  return "?";
}

bool is_ipv4_literal(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

}  // namespace

value_result<std::uint16_t> parse_port(std::string_view text) {
  std::uint32_t port = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, port);
  if (text.empty() || ec != std::errc{} || ptr != end || port == 0 || port > 65535) {
    return {std::nullopt, "port must be 1..65535"};
  }
  return {static_cast<std::uint16_t>(port), {}};
}

// The one rule for a listen address, shared by the parser and validate().
std::string listen_address_problem(const listen_address& a) {
  if (a.host.empty()) return "host is missing; use 0.0.0.0 or [::] for every address";
  if (a.host != "localhost" && !is_ipv4_literal(a.host) && !is_ipv6_literal(a.host)) {
    return "host must be an IPv4 or IPv6 address or localhost (names are not resolved)";
  }
  if (a.port == 0) return "port must be 1..65535";
  return {};
}

// --- Single values.

value_result<milliseconds> parse_duration(std::string_view text) {
  const auto bad = [&] {
    return value_result<milliseconds>{
        std::nullopt, "not a duration; write 250ms, 5s, 2m or an integer of milliseconds"};
  };
  const auto digits_end = text.find_first_not_of("0123456789");
  const auto digits = text.substr(0, digits_end);
  const auto unit =
      digits_end == std::string_view::npos ? std::string_view{} : text.substr(digits_end);
  std::int64_t scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else {
    return bad();
  }
  std::int64_t count = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (digits.empty() || ptr != digits.data() + digits.size()) return bad();
  if (ec == std::errc::result_out_of_range ||
      count > std::numeric_limits<std::int64_t>::max() / scale) {
    return {std::nullopt, "too long"};
  }
  return {milliseconds{count * scale}, {}};
}

value_result<listen_address> parse_listen_address(std::string_view text) {
  listen_address a;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return {std::nullopt, "missing ] after the IPv6 address"};
    a.host = std::string(text.substr(1, close - 1));
    const auto after = text.substr(close + 1);
    if (after.empty() || after.front() != ':') {
      return {std::nullopt, "expected HOST:PORT, as in [::1]:8080"};
    }
    port = after.substr(1);
    if (!is_ipv6_literal(a.host)) return {std::nullopt, "brackets must hold an IPv6 address"};
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return {std::nullopt, "expected HOST:PORT, as in 127.0.0.1:8080"};
    }
    a.host = std::string(text.substr(0, colon));
    if (a.host.find(':') != std::string::npos) {
      return {std::nullopt, "an IPv6 address goes in brackets, as in [::1]:8080"};
    }
    port = text.substr(colon + 1);
  }
  const auto parsed_port = parse_port(port);
  if (!parsed_port.value) return {std::nullopt, parsed_port.error};
  a.port = *parsed_port.value;
  if (auto problem = listen_address_problem(a); !problem.empty()) return {std::nullopt, std::move(problem)};
  return {std::move(a), {}};
}

value_result<io_backend> parse_io_backend(std::string_view text) {
  return parse_enum(io_backend_names, text);
}
value_result<slow_consumer_policy> parse_slow_consumer_policy(std::string_view text) {
  return parse_enum(policy_names, text);
}
value_result<log_level> parse_log_level(std::string_view text) {
  return parse_enum(log_level_names, text);
}

std::string_view to_string(io_backend v) noexcept { return enum_name(io_backend_names, v); }
std::string_view to_string(slow_consumer_policy v) noexcept { return enum_name(policy_names, v); }
std::string_view to_string(log_level v) noexcept { return enum_name(log_level_names, v); }

std::string format_duration(milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_listen_address(const listen_address& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  const config defaults;
  detail::for_each_field(defaults, [&](const detail::field_info& f, const auto&) {
    keys.push_back(std::string(f.table) + "." + std::string(f.key));
  });
  return keys;
}

config with_reloaded(const config& running, const config& next,
                     const std::function<bool(std::string_view key)>& may_change,
                     std::vector<std::string>& applied, std::vector<std::string>& kept) {
  // Both visits go through the one field table in the same order, so the i-th field of `next`
  // has the type of the i-th field of `out`.
  std::vector<const void*> fields;
  detail::for_each_field(next, [&](const detail::field_info&, const auto& v) { fields.push_back(&v); });
  config out = running;
  std::size_t i = 0;
  detail::for_each_field(out, [&](const detail::field_info& f, auto& v) {
    const auto& wanted = *static_cast<const std::remove_cvref_t<decltype(v)>*>(fields[i++]);
    if (wanted == v) return;
    std::string key = std::string(f.table) + "." + std::string(f.key);
    if (may_change(key)) {
      v = wanted;
      applied.push_back(std::move(key));
    } else {
      kept.push_back(std::move(key));
    }
  });
  return out;
}

unsigned resolved_shard_count(const server_config& server) {
  if (server.shards != 0) return server.shards;
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(static_cast<unsigned>(cpus), 1u, max_shards);
}

}  // namespace shoal::gateway
