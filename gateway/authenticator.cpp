// The authenticator (see authenticator.hpp): key files into a core::jwt_key_set, [auth] into
// core::jwt_rules, and the token's place in an upgrade request. Main thread to build; then
// read-only from any shard.
#include "gateway/authenticator.hpp"

#include <filesystem>

#include "gateway/text_file.hpp"

namespace shoal::gateway {
namespace {

constexpr std::size_t max_key_file = 1u << 20;  // a key is a few KiB; past this it is not one


// A key's kid: its file name without the extension ("keys/2026-12.pem" -> "2026-12").
std::string kid_of(const std::string& path) { return std::filesystem::path(path).stem().string(); }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

request_token find_request_token(const core::http_request& req) {
  request_token out;
  if (const auto auth = req.header("Authorization")) {
    // RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive.
    const std::string_view v = *auth;
    if (v.size() < 8 || !core::iequals(v.substr(0, 7), "bearer ")) {
      out.state = request_token::status::bad_scheme;
      return out;
    }
    out.token = std::string(core::trim_ows(v.substr(7)));
    out.state = request_token::status::found;
  }
  std::string_view query = req.query();
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (!param.starts_with("token=")) continue;
    if (out.state != request_token::status::none) {
      out.state = request_token::status::ambiguous;
      return out;
    }
    const std::string_view raw = param.substr(6);
    out.token.clear();
    for (std::size_t i = 0; i < raw.size(); ++i) {  // RFC 3986 §2.1 percent-decoding
      if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 && hex_value(raw[i + 2]) >= 0) {
        out.token.push_back(static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2])));
        i += 2;
      } else {
        out.token.push_back(raw[i]);
      }
    }
    out.state = request_token::status::found;
  }
  return out;
}

std::shared_ptr<const authenticator> authenticator::load(const auth_config& cfg, std::string& error) {
  auto a = std::make_shared<authenticator>();
  std::string names;
  for (const std::string& path : cfg.jwt_secret_files) {
    std::string secret;
    if (!read_text_file(path, max_key_file, secret, error)) return nullptr;
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    std::string why;
    if (!a->keys_.add_secret(kid_of(path), secret, why)) {
      error = path + ": " + why;
      return nullptr;
    }
    names += (names.empty() ? "" : ", ") + kid_of(path) + " (HMAC)";
  }
  for (const std::string& path : cfg.jwt_public_key_files) {
    std::string pem;
    if (!read_text_file(path, max_key_file, pem, error)) return nullptr;
    std::string why;
    if (!a->keys_.add_public_pem(kid_of(path), pem, why)) {
      error = path + ": " + why;
      return nullptr;
    }
    names += (names.empty() ? "" : ", ") + kid_of(path) + " (public key)";
  }
  a->rules_.issuer = cfg.issuer;
  a->rules_.audience = cfg.audience;
  a->rules_.leeway_seconds = std::chrono::duration_cast<std::chrono::seconds>(cfg.clock_skew).count();
  a->rules_.max_token_bytes = cfg.max_token_bytes;
  a->rules_.require_exp = true;
  a->required_ = cfg.required;
  auto anonymous = std::make_shared<core::topic_permissions>();
  for (const std::string& p : cfg.anonymous_subscribe) anonymous->add_subscribe(p);
  for (const std::string& p : cfg.anonymous_publish) anonymous->add_publish(p);
  a->anonymous_ = std::move(anonymous);
  if (a->enabled()) {
    a->summary_ = "JWT keys: " + names + (cfg.issuer.empty() ? "" : "; issuer " + cfg.issuer) +
                  (cfg.audience.empty() ? "" : "; audience " + cfg.audience.front() +
                                                   (cfg.audience.size() > 1 ? ", ..." : "")) +
                  (cfg.required ? "; a token is required" : "; clients without a token are anonymous");
  } else {
    a->summary_ = "no JWT keys: authentication is off, every client may subscribe and publish anywhere";
  }
  return a;
}

core::jwt_error authenticator::verify(std::string_view token, std::int64_t now_unix,
                                      auth_grant& out) const {
  core::jwt_claims claims;
  const core::jwt_error err = core::verify_jwt(token, keys_, rules_, now_unix, claims);
  if (err != core::jwt_error::none) return err;
  auto permissions = std::make_shared<core::topic_permissions>();
  for (std::string& p : claims.sub_patterns) permissions->add_subscribe(std::move(p));
  for (std::string& p : claims.pub_patterns) permissions->add_publish(std::move(p));
  out.permissions = std::move(permissions);
  out.expires_at = claims.expires_at;
  out.subject = std::move(claims.subject);
  return core::jwt_error::none;
}

}  // namespace shoal::gateway
