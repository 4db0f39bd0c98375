// validate(): every rule over the final config, in one place, whether a value came from the
// defaults, the TOML file or a flag; each problem names its key. Pure; any thread.
#include <algorithm>
#include <array>
#include <charconv>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/topic_pattern.hpp"
#include "gateway/config.hpp"
#include "gateway/config_fields.hpp"
#include "gateway/network_list.hpp"

namespace shoal::gateway {
namespace {

using std::chrono::milliseconds;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = kib * 1024;
constexpr std::uint64_t gib = mib * 1024;
constexpr std::uint64_t tib = gib * 1024;
constexpr milliseconds max_duration{24 * 3600 * 1000};

bool is_tchar(char c) {  // RFC 7230 §3.2.6
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         extra.find(c) != std::string_view::npos;
}

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// A NATS name or subject token as Shoal allows it: 1+ of A-Z a-z 0-9 _ -.
bool is_nats_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  });
}

bool is_subject_prefix(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (std::size_t start = 0;;) {
    const auto dot = s.find('.', start);
    if (!is_nats_token(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// nats://host:port, tls://host:port, optionally user:password@ (as the NATS client takes them).
std::string nats_url_problem(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return "must be nats://HOST:PORT or tls://HOST:PORT";
  const auto scheme = url.substr(0, sep);
  if (scheme != "nats" && scheme != "tls") return "scheme must be nats:// or tls://";
  if (!is_visible_ascii(url)) return "must be ASCII without spaces";
  auto rest = url.substr(sep + 3);
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (rest.empty() || rest.front() == ':') return "needs a host";
  if (rest.find_first_of("/?#") != std::string_view::npos) return "must not have a path";
  const auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.back() != ']' && !parse_port(rest.substr(colon + 1)).value)
    return "port must be 1..65535";
  return {};
}

// Origins are compared byte for byte with what browsers send: the ASCII serialisation
// scheme://host[:port] (RFC 6454 §6.2), lowercase, punycode for IDNs, no path.
std::string origin_problem(std::string_view origin) {
  if (origin == "*") return "leave allowed_origins empty to allow every origin";
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0 || sep + 3 == origin.size()) {
    return "must be scheme://host[:port], as in https://app.example.com";
  }
  if (!is_visible_ascii(origin)) return "must be ASCII without spaces (punycode for IDNs)";
  if (std::any_of(origin.begin(), origin.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return "must be lowercase, as browsers send it";
  }
  const auto rest = origin.substr(sep + 3);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return "must not have a path, query or trailing /; an origin is scheme://host[:port]";
  }
  const auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.back() != ']' &&
      !parse_port(rest.substr(colon + 1)).value) {
    return "port must be 1..65535";
  }
  return {};
}

// Built by appending: `"\"" + std::string(s) + "\""` trips GCC 12's -Wrestrict false positive
// (GCC PR 105329) in optimised builds.
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

}  // namespace

// --- The whole struct.

std::vector<config_issue> validate(const config& cfg) {
  std::vector<config_issue> issues;
  const auto issue = [&](std::string key, std::string problem) {
    issues.push_back({std::move(key), std::move(problem)});
  };
  const auto in_range = [&](const char* key, std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
    if (v < lo || v > hi) {
      issue(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                     std::to_string(v));
    }
  };
  const auto at_least = [&](const char* key, std::uint64_t v, std::uint64_t lo) {
    if (v < lo) issue(key, "must be at least " + std::to_string(lo) + ", got " + std::to_string(v));
  };

  const auto& s = cfg.server;
  if (s.listen.empty() && cfg.tls.listen.empty())
    issue("server.listen", "must list at least one HOST:PORT (or set tls.listen)");
  for (std::size_t i = 0; i < s.listen.size(); ++i) {
    const auto text = quoted(format_listen_address(s.listen[i]));
    if (auto problem = listen_address_problem(s.listen[i]); !problem.empty()) {
      issue("server.listen", text + ": " + problem);
    } else if (std::find(s.listen.begin(), s.listen.begin() + static_cast<std::ptrdiff_t>(i),
                         s.listen[i]) != s.listen.begin() + static_cast<std::ptrdiff_t>(i)) {
      issue("server.listen", text + " is listed twice");
    }
  }
  for (const std::string& cidr : s.proxy_trusted) {
    std::string problem;
    if (!parse_network(cidr, problem)) issue("server.proxy_trusted", quoted(cidr) + ": " + problem);
  }
  if (!s.proxy_trusted.empty() && !s.proxy_protocol && s.proxy_listen.empty())
    issue("server.proxy_trusted", "has no effect without server.proxy_protocol or server.proxy_listen");
  for (const listen_address& a : s.proxy_listen)
    if (std::count(s.listen.begin(), s.listen.end(), a) == 0 &&
        std::count(cfg.tls.listen.begin(), cfg.tls.listen.end(), a) == 0)
      issue("server.proxy_listen", quoted(format_listen_address(a)) +
                                       " is not one of server.listen or tls.listen");
  if (s.shards > max_shards) {
    issue("server.shards", "must be between 0 (one per CPU) and " + std::to_string(max_shards) +
                               ", got " + std::to_string(s.shards));
  }
  if (s.io_uring_buffers == 0 || s.io_uring_buffers > 32768 ||
      (s.io_uring_buffers & (s.io_uring_buffers - 1)) != 0) {
    issue("server.io_uring_buffers",
          "must be a power of two from 1 up to 32768, got " + std::to_string(s.io_uring_buffers));
  }

  const auto& t = cfg.timeouts;
  const std::pair<const char*, milliseconds> durations[] = {
      {"timeouts.handshake", t.handshake},
      {"timeouts.idle", t.idle},
      {"timeouts.ping_interval", t.ping_interval},
      {"timeouts.pong_timeout", t.pong_timeout},
      {"timeouts.close", t.close},
      {"timeouts.drain", t.drain},
      {"timeouts.shutdown_deadline", t.shutdown_deadline}};
  for (const auto& [key, d] : durations) {
    if (d.count() < 0) issue(key, "must not be negative, got " + format_duration(d));
    if (d > max_duration) {
      issue(key, "must be at most 24 hours (86400s), got " + format_duration(d));
    }
  }
  const std::pair<const char*, milliseconds> positive[] = {
      {"timeouts.handshake", t.handshake},
      {"timeouts.pong_timeout", t.pong_timeout},
      {"timeouts.close", t.close},
      {"timeouts.shutdown_deadline", t.shutdown_deadline}};
  for (const auto& [key, d] : positive) {
    if (d.count() == 0) issue(key, "must be greater than 0");
  }
  if (t.drain > t.shutdown_deadline) {
    issue("timeouts.drain", "must be at most timeouts.shutdown_deadline (" +
                                format_duration(t.shutdown_deadline) + "), got " +
                                format_duration(t.drain));
  }

  const auto& l = cfg.limits;
  in_range("limits.max_message_size", l.max_message_size, 125, gib);
  at_least("limits.max_connections", l.max_connections, 1);
  at_least("limits.max_topics_per_connection", l.max_topics_per_connection, 1);
  in_range("limits.max_header_bytes", l.max_header_bytes, kib, mib);
  // Host, Upgrade, Connection, Sec-WebSocket-Key and -Version are required (RFC 6455 §4.1).
  in_range("limits.max_headers", l.max_headers, 5, 1024);
  in_range("server.io_uring_buffer_size", s.io_uring_buffer_size, 512, 1u << 20);
  const std::tuple<const char*, std::uint64_t, const char*, std::uint64_t> bursts[] = {
      {"limits.message_burst", l.message_burst, "limits.messages_per_second", l.messages_per_second},
      {"limits.bytes_burst", l.bytes_burst, "limits.bytes_per_second", l.bytes_per_second},
      {"limits.connect_burst_per_address", l.connect_burst_per_address,
       "limits.connects_per_address_per_second", l.connects_per_address_per_second}};
  for (const auto& [key, burst, rate_key, rate] : bursts)
    if (burst != 0 && rate == 0) issue(key, std::string("has no effect without ") + rate_key + "; set both");
  in_range("limits.rate_limit_strikes", l.rate_limit_strikes, 1, 1'000'000);

  const auto& b = cfg.backpressure;
  in_range("backpressure.high_watermark", b.high_watermark, 1, tib);
  if (b.slow_consumer_limit < b.high_watermark) {
    issue("backpressure.slow_consumer_limit", "must be at least backpressure.high_watermark (" +
                                                  std::to_string(b.high_watermark) + "), got " +
                                                  std::to_string(b.slow_consumer_limit));
  } else {
    in_range("backpressure.slow_consumer_limit", b.slow_consumer_limit, 1, tib);
  }

  const auto& p = cfg.pubsub;
  if (p.ring_size < 16 || p.ring_size > (1u << 20) || (p.ring_size & (p.ring_size - 1)) != 0) {
    issue("pubsub.ring_size",
          "must be a power of two between 16 and 1048576, got " + std::to_string(p.ring_size));
  }
  in_range("pubsub.max_topic_length", p.max_topic_length, 1, 65535);
  in_range("pubsub.history_bytes", p.history_bytes, 0, tib);
  in_range("pubsub.queue_bytes", p.queue_bytes, 0, tib);
  in_range("pubsub.max_topics", p.max_topics, 1, std::uint64_t{1} << 32);
  if (!is_visible_ascii(p.publish_token)) {
    issue("pubsub.publish_token",
          "must be visible ASCII without spaces (it is an HTTP header value)");
  }

  const auto& sec = cfg.security;
  for (std::size_t i = 0; i < sec.allowed_origins.size(); ++i) {
    const auto& o = sec.allowed_origins[i];
    if (auto problem = origin_problem(o); !problem.empty()) {
      issue("security.allowed_origins", quoted(o) + ": " + problem);
    } else if (std::count(sec.allowed_origins.begin(),
                          sec.allowed_origins.begin() + static_cast<std::ptrdiff_t>(i), o) != 0) {
      issue("security.allowed_origins", quoted(o) + " is listed twice");
    }
  }
  for (std::size_t i = 0; i < sec.subprotocols.size(); ++i) {
    const auto& sp = sec.subprotocols[i];
    if (sp.empty() || !std::all_of(sp.begin(), sp.end(), is_tchar)) {
      issue("security.subprotocols",
            quoted(sp) + ": must be an HTTP token (RFC 6455 §4.1, RFC 7230 §3.2.6)");
    } else if (std::count(sec.subprotocols.begin(),
                          sec.subprotocols.begin() + static_cast<std::ptrdiff_t>(i), sp) != 0) {
      issue("security.subprotocols", quoted(sp) + " is listed twice");
    }
  }

  for (std::size_t i = 0; i < s.admin_listen.size(); ++i) {
    const listen_address& a = s.admin_listen[i];
    const std::string text = quoted(format_listen_address(a));
    if (auto problem = listen_address_problem(a); !problem.empty()) {
      issue("server.admin_listen", text + ": " + problem);
    } else if (std::count(s.admin_listen.begin(), s.admin_listen.begin() + static_cast<std::ptrdiff_t>(i), a) != 0) {
      issue("server.admin_listen", text + " is listed twice");
    } else if (std::count(s.listen.begin(), s.listen.end(), a) != 0 ||
               std::count(cfg.tls.listen.begin(), cfg.tls.listen.end(), a) != 0) {
      issue("server.admin_listen", text + " is also a public listener: the admin port must be its own");
    }
  }

  const auto& tls = cfg.tls;
  for (std::size_t i = 0; i < tls.listen.size(); ++i) {
    const std::string text = quoted(format_listen_address(tls.listen[i]));
    if (auto problem = listen_address_problem(tls.listen[i]); !problem.empty()) {
      issue("tls.listen", text + ": " + problem);
    } else if (std::count(tls.listen.begin(), tls.listen.begin() + static_cast<std::ptrdiff_t>(i),
                          tls.listen[i]) != 0) {
      issue("tls.listen", text + " is listed twice");
    } else if (std::count(s.listen.begin(), s.listen.end(), tls.listen[i]) != 0) {
      issue("tls.listen", text + " is also in server.listen: one port speaks plain or TLS, not both");
    }
  }
  if (!tls.listen.empty() && tls.cert.empty()) issue("tls.cert", "is required when tls.listen is set");
  if (!tls.listen.empty() && tls.key.empty()) issue("tls.key", "is required when tls.listen is set");
  if (tls.min_version != "1.2" && tls.min_version != "1.3")
    issue("tls.min_version", quoted(tls.min_version) + ": must be \"1.2\" or \"1.3\"");
  if (tls.ciphers.empty()) issue("tls.ciphers", "must not be empty");

  const auto& d = cfg.deflate;
  for (std::size_t i = 0; i < d.endpoints.size(); ++i) {
    const auto& e = d.endpoints[i];
    if (e != "/echo" && e != "/ws") {
      issue("deflate.endpoints", quoted(e) + ": must be a WebSocket endpoint, /echo or /ws");
    } else if (std::count(d.endpoints.begin(), d.endpoints.begin() + static_cast<std::ptrdiff_t>(i),
                          e) != 0) {
      issue("deflate.endpoints", quoted(e) + " is listed twice");
    }
  }
  in_range("deflate.server_max_window_bits", d.server_max_window_bits, 8, 15);
  in_range("deflate.client_max_window_bits", d.client_max_window_bits, 8, 15);
  in_range("deflate.mem_level", d.mem_level, 1, 9);
  in_range("deflate.level", d.level, 1, 9);
  in_range("deflate.min_size", d.min_size, 0, std::uint64_t{1} << 30);

  const auto& cl = cfg.cluster;
  for (std::size_t i = 0; i < cl.nats.size(); ++i) {
    const auto& u = cl.nats[i];
    if (auto problem = nats_url_problem(u); !problem.empty()) {
      issue("cluster.nats", quoted(u) + ": " + problem);
    } else if (std::count(cl.nats.begin(), cl.nats.begin() + static_cast<std::ptrdiff_t>(i), u) != 0) {
      issue("cluster.nats", quoted(u) + " is listed twice");
    }
  }
  if (!is_nats_token(cl.stream) || cl.stream.size() > 32)
    issue("cluster.stream", quoted(cl.stream) + ": must be 1..32 of A-Z a-z 0-9 _ -");
  if (!is_subject_prefix(cl.subject_prefix))
    issue("cluster.subject_prefix", quoted(cl.subject_prefix) +
                                        ": must be 1..64 characters of NATS subject tokens "
                                        "(A-Z a-z 0-9 _ - separated by single dots)");
  if (cl.node_name.size() > 64 || !is_visible_ascii(cl.node_name))
    issue("cluster.node_name", quoted(cl.node_name) + ": must be at most 64 visible ASCII characters");
  if (!cl.nats.empty() && cfg.pubsub.max_topic_length > 2048)
    issue("pubsub.max_topic_length",
          "must be at most 2048 with cluster.nats: a topic travels as a NATS subject, whose protocol "
          "line NATS servers bound at 4096 bytes by default (max_control_line)");
  if (cl.tls_cert.empty() != cl.tls_key.empty())
    issue(cl.tls_cert.empty() ? "cluster.tls_cert" : "cluster.tls_key",
          "cluster.tls_cert and cluster.tls_key go together");
  in_range("cluster.replicas", cl.replicas, 1, 5);
  in_range("cluster.max_records_per_topic", cl.max_records_per_topic, 0, std::uint64_t{1} << 62);
  in_range("cluster.max_bytes", cl.max_bytes, 0, std::uint64_t{1} << 62);
  if (cl.max_age.count() != 0 && cl.max_age < std::chrono::seconds(1))
    issue("cluster.max_age", "must be 0 (no limit) or at least 1s (JetStream's resolution)");
  if (cl.request_timeout < std::chrono::milliseconds(100) || cl.request_timeout > std::chrono::minutes(10))
    issue("cluster.request_timeout", "must be between 100ms and 10m");

  const auto& a = cfg.auth;
  const auto files = [&](const char* key, const std::vector<std::string>& list) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].empty()) issue(key, "must not list an empty path");
      else if (std::count(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(i), list[i]) != 0)
        issue(key, quoted(list[i]) + " is listed twice");
    }
  };
  files("auth.jwt_secret_file", a.jwt_secret_files);
  files("auth.jwt_public_key_file", a.jwt_public_key_files);
  const bool has_keys = !a.jwt_secret_files.empty() || !a.jwt_public_key_files.empty();
  const auto patterns = [&](const char* key, const std::vector<std::string>& list) {
    for (const std::string& pattern : list)
      if (!core::is_valid_topic_pattern(pattern, cfg.pubsub.max_topic_length))
        issue(key, quoted(pattern) + ": not a topic pattern (segments of A-Z a-z 0-9 _ : - separated "
                                     "by . or /, a segment may be * or, last, >)");
    if (!list.empty() && !has_keys)
      issue(key, "has no effect without auth.jwt_secret_file or auth.jwt_public_key_file (without "
                 "keys every client may do everything)");
    if (!list.empty() && a.required)
      issue(key, "has no effect while auth.required is true (set it to false to let clients in "
                 "without a token)");
  };
  patterns("auth.anonymous_subscribe", a.anonymous_subscribe);
  patterns("auth.anonymous_publish", a.anonymous_publish);
  for (const std::string& aud : a.audience)
    if (aud.empty()) issue("auth.audience", "must not list an empty audience");
  if (a.clock_skew.count() < 0 || a.clock_skew > std::chrono::minutes(10))
    issue("auth.clock_skew", "must be between 0 and 10m, got " + format_duration(a.clock_skew));
  in_range("auth.max_token_bytes", a.max_token_bytes, 256, 65536);
  return issues;
}

}  // namespace shoal::gateway
