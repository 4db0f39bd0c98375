// Client authentication (README "Security"): the JWT keys and rules of [auth], read from their
// files on the main thread (at start-up and on SIGHUP) into an immutable authenticator that
// every shard shares read-only through auth_store. Verification runs once per connection (on
// the upgrade or the first `auth` message) and per refresh, never per message; what it grants
// is a shared, immutable topic_permissions the connection keeps.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/http_request.hpp"
#include "core/jwt.hpp"
#include "core/topic_pattern.hpp"
#include "gateway/config.hpp"
#include "gateway/current_value.hpp"

namespace shoal::gateway {

// What a verified token (or anonymity) lets a connection do, and until when.
struct auth_grant {
  std::shared_ptr<const core::topic_permissions> permissions;
  std::int64_t expires_at = 0;  // Unix seconds; 0 = never (anonymous)
  std::string subject;          // the token's "sub", for the `authed` answer
};

// Where the upgrade request carries a token: `Authorization: Bearer` or `?token=`.
struct request_token {
  enum class status : std::uint8_t { none, found, ambiguous, bad_scheme } state = status::none;
  std::string token;  // found: percent-decoded
};
// RFC 6750 §2.1 and §2.3; §2: a client must not use more than one way in one request.
request_token find_request_token(const core::http_request& req);

class authenticator {
 public:
  // Reads the key files of `cfg`. Null with `error` set (naming the file) if any is unusable.
  static std::shared_ptr<const authenticator> load(const auth_config& cfg, std::string& error);

  // Keys configured: tokens are verified and permissions apply. Otherwise auth is off.
  bool enabled() const noexcept { return !keys_.empty(); }
  // A client without a token is refused (true) or anonymous (false).
  bool required() const noexcept { return required_; }

  core::jwt_error verify(std::string_view token, std::int64_t now_unix, auth_grant& out) const;
  auth_grant anonymous() const { return {anonymous_, 0, {}}; }
  std::int64_t clock_skew_seconds() const noexcept { return rules_.leeway_seconds; }
  // One line for the log: the keys by kid and type, issuer, audience, required.
  const std::string& summary() const noexcept { return summary_; }

 private:
  core::jwt_key_set keys_;
  core::jwt_rules rules_;
  bool required_ = true;
  std::shared_ptr<const core::topic_permissions> anonymous_;
  std::string summary_;
};

using auth_store = current_value<authenticator>;

}  // namespace shoal::gateway
