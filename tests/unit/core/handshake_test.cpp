// Tests for the WebSocket opening handshake (core/handshake.hpp): RFC 6455 §4.2.1 validation on
// requests parsed whole and at every split point, Sec-WebSocket-Accept, and the responses.
#include "core/handshake.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <string>
#include <vector>

namespace shoal::core {
namespace {

constexpr std::string_view rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";

// A valid browser-like upgrade request; `extra` lines are added before the blank line and
// `drop` names a header line to leave out.
std::string request(std::string_view extra = "", std::string_view drop = "",
                    std::string_view request_line = "GET /chat?room=1 HTTP/1.1") {
  std::string out(request_line);
  out += "\r\n";
  const std::pair<std::string_view, std::string_view> base[] = {
      {"Host", "server.example.com"},
      {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},
      {"Sec-WebSocket-Key", rfc_key},
      {"Sec-WebSocket-Version", "13"},
  };
  for (const auto& [name, value] : base) {
    if (name != drop) out.append(name).append(": ").append(value).append("\r\n");
  }
  out.append(extra);
  out += "\r\n";
  return out;
}

void expect_same(const upgrade_result& u, const upgrade_result& expected, std::size_t split) {
  EXPECT_EQ(u.error, expected.error) << "split at " << split;
  EXPECT_EQ(u.upgrade.key, expected.upgrade.key) << "split at " << split;
  EXPECT_EQ(u.upgrade.origin, expected.upgrade.origin) << "split at " << split;
  EXPECT_EQ(u.upgrade.protocols, expected.upgrade.protocols) << "split at " << split;
  EXPECT_EQ(format_extensions(u.upgrade.extensions),
            format_extensions(expected.upgrade.extensions)) << "split at " << split;
}

// Parses `in` whole, at every split point and byte by byte, expects the same upgrade verdict
// each time, and hands the whole-feed result (its parser owns the views) to `check`.
template <class F>
void with_upgrade(const std::string& in, F&& check) {
  http_request_parser whole;
  ASSERT_EQ(whole.feed(in).status, http_parse_status::complete) << in;
  const upgrade_result expected = validate_upgrade(whole.request());
  const std::string_view view(in);
  for (std::size_t i = 0; i <= in.size(); ++i) {
    http_request_parser p;
    auto r = p.feed(view.substr(0, i));
    if (r.status == http_parse_status::need_more) r = p.feed(view.substr(i));
    ASSERT_EQ(r.status, http_parse_status::complete) << "split at " << i;
    expect_same(validate_upgrade(p.request()), expected, i);
  }
  http_request_parser bytes;
  http_parse_result r;
  for (std::size_t i = 0; i < in.size() && r.status == http_parse_status::need_more; ++i) {
    r = bytes.feed(view.substr(i, 1));
  }
  ASSERT_EQ(r.status, http_parse_status::complete) << "byte by byte";
  expect_same(validate_upgrade(bytes.request()), expected, 1);
  check(expected);
}

upgrade_error error_of(const std::string& in) {
  upgrade_error err = upgrade_error::none;
  with_upgrade(in, [&](const upgrade_result& r) { err = r.error; });
  return err;
}

TEST(Handshake, AcceptKeyMatchesRfc6455Example) {
  const accept_key a = compute_accept_key(rfc_key);
  EXPECT_EQ(std::string_view(a.data(), a.size()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptKeyMatchesSecondVector) {
  const accept_key a = compute_accept_key("Iv8io/9s+lYFgZWcXczP8Q==");
  EXPECT_EQ(std::string_view(a.data(), a.size()), "hsBlbuDTkk24srzEOTBUlZAlC2g=");
}

TEST(Handshake, AcceptsValidUpgrade) {
  with_upgrade(request("Origin: https://example.com\r\n"), [](const upgrade_result& r) {
    ASSERT_TRUE(r.ok()) << r.reason;
    EXPECT_EQ(r.status, 101u);
    EXPECT_EQ(r.upgrade.path, "/chat");
    EXPECT_EQ(r.upgrade.query, "room=1");
    EXPECT_EQ(r.upgrade.host, "server.example.com");
    EXPECT_EQ(r.upgrade.origin, "https://example.com");
    EXPECT_EQ(r.upgrade.key, rfc_key);
    EXPECT_TRUE(r.upgrade.protocols.empty());
    EXPECT_TRUE(r.upgrade.extensions.empty());
  });
}

TEST(Handshake, OriginIsOptional) {
  with_upgrade(request(), [](const upgrade_result& r) {
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.upgrade.origin.has_value());
  });
}

TEST(Handshake, RejectsDuplicateOrigin) {
  EXPECT_EQ(error_of(request("Origin: https://a\r\nOrigin: https://b\r\n")),
            upgrade_error::duplicate_origin);
}

TEST(Handshake, PlainRequestIsNotAnUpgradeAttempt) {
  http_request_parser p;
  ASSERT_EQ(p.feed("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n").status, http_parse_status::complete);
  EXPECT_FALSE(is_upgrade_attempt(p.request()));
  const upgrade_result r = validate_upgrade(p.request());
  EXPECT_EQ(r.error, upgrade_error::not_upgrade);
  EXPECT_EQ(r.status, 426u);
  const std::string resp = build_error_response(r);
  EXPECT_EQ(resp.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u);
  EXPECT_NE(resp.find("\r\nUpgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(resp.find("\r\nConnection: Upgrade, close\r\n"), std::string::npos);
}

TEST(Handshake, RejectsPostWith405AndAllow) {
  with_upgrade(request("", "", "POST /chat HTTP/1.1"), [](const upgrade_result& r) {
    EXPECT_EQ(r.error, upgrade_error::method_not_get);
    EXPECT_EQ(r.status, 405u);
    const std::string resp = build_error_response(r);
    EXPECT_EQ(resp.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
    EXPECT_NE(resp.find("\r\nAllow: GET\r\n"), std::string::npos);
  });
}

TEST(Handshake, RejectsHttp10) {
  EXPECT_EQ(error_of(request("", "", "GET /chat HTTP/1.0")), upgrade_error::http_version_too_old);
}

TEST(Handshake, AcceptsLaterHttp1Minor) {
  EXPECT_EQ(error_of(request("", "", "GET /chat HTTP/1.2")), upgrade_error::none);
}

TEST(Handshake, MissingHostIsRefusedByTheParser) {
  // An HTTP/1.1 request without Host never reaches validate_upgrade (RFC 9112 §3.2).
  http_request_parser p;
  EXPECT_EQ(p.feed(request("", "Host")).error, http_error::missing_host);
}

TEST(Handshake, AcceptsAbsoluteFormWithItsAuthorityAsHost) {
  with_upgrade(request("", "", "GET ws://server.example.com/chat HTTP/1.1"),
               [](const upgrade_result& r) {
                 ASSERT_TRUE(r.ok());
                 EXPECT_EQ(r.upgrade.path, "/chat");
                 EXPECT_EQ(r.upgrade.host, "server.example.com");
               });
}

TEST(Handshake, RejectsUpgradeWithoutWebsocketToken) {
  EXPECT_EQ(error_of(request("Upgrade: h2c\r\n", "Upgrade")), upgrade_error::upgrade_not_websocket);
  EXPECT_EQ(error_of(request("Upgrade: websocketx\r\n", "Upgrade")),
            upgrade_error::upgrade_not_websocket);
  EXPECT_EQ(error_of(request("Upgrade: websocket/13\r\n", "Upgrade")),
            upgrade_error::upgrade_not_websocket);
}

TEST(Handshake, UpgradeTokenIsCaseInsensitiveInAList) {
  EXPECT_EQ(error_of(request("Upgrade: WebSocket\r\n", "Upgrade")), upgrade_error::none);
  EXPECT_EQ(error_of(request("Upgrade: foo/2, websocket\r\n", "Upgrade")), upgrade_error::none);
  EXPECT_EQ(error_of(request("Upgrade: foo\r\nUpgrade: websocket\r\n", "Upgrade")),
            upgrade_error::none);
}

TEST(Handshake, RejectsConnectionWithoutUpgradeToken) {
  EXPECT_EQ(error_of(request("Connection: keep-alive\r\n", "Connection")),
            upgrade_error::connection_not_upgrade);
  EXPECT_EQ(error_of(request("Connection: Upgraded\r\n", "Connection")),
            upgrade_error::connection_not_upgrade);
  EXPECT_EQ(error_of(request("", "Connection")), upgrade_error::connection_not_upgrade);
}

TEST(Handshake, ConnectionTokenListsAreCaseInsensitive) {
  EXPECT_EQ(error_of(request("Connection: keep-alive, Upgrade\r\n", "Connection")),
            upgrade_error::none);
  EXPECT_EQ(error_of(request("Connection: UPGRADE\r\n", "Connection")), upgrade_error::none);
  EXPECT_EQ(error_of(request("Connection: keep-alive\r\nConnection: upgrade\r\n", "Connection")),
            upgrade_error::none);
}

TEST(Handshake, RejectsMissingVersionWith426) {
  with_upgrade(request("", "Sec-WebSocket-Version"), [](const upgrade_result& r) {
    EXPECT_EQ(r.error, upgrade_error::bad_version);
    EXPECT_EQ(r.status, 426u);
    const std::string resp = build_error_response(r);
    EXPECT_EQ(resp.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u);
    EXPECT_NE(resp.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
  });
}

TEST(Handshake, RejectsOtherVersionsWith426) {
  for (std::string_view v : {"8", "12", "14", "013", "13, 8", ""}) {
    EXPECT_EQ(error_of(request("Sec-WebSocket-Version: " + std::string(v) + "\r\n",
                               "Sec-WebSocket-Version")),
              upgrade_error::bad_version) << v;
  }
  EXPECT_EQ(error_of(request("Sec-WebSocket-Version: 13\r\n")), upgrade_error::bad_version);
}

TEST(Handshake, RejectsMissingKey) {
  EXPECT_EQ(error_of(request("", "Sec-WebSocket-Key")), upgrade_error::missing_key);
}

TEST(Handshake, RejectsDuplicateKey) {
  EXPECT_EQ(error_of(request("Sec-WebSocket-Key: " + std::string(rfc_key) + "\r\n")),
            upgrade_error::duplicate_key);
}

std::string with_key(std::string_view key) {
  return request("Sec-WebSocket-Key: " + std::string(key) + "\r\n", "Sec-WebSocket-Key");
}

TEST(Handshake, AcceptsKeyWithSurroundingWhitespace) {
  with_upgrade(with_key("  \tdGhlIHNhbXBsZSBub25jZQ== \t"), [](const upgrade_result& r) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.upgrade.key, rfc_key);
  });
}

TEST(Handshake, RejectsKeyOf15Bytes) {
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25j")), upgrade_error::bad_key);  // 15 bytes
}

TEST(Handshake, RejectsKeyOf17Bytes) {
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25jZTE=")), upgrade_error::bad_key);  // 17 bytes
}

TEST(Handshake, RejectsKeyWithoutPadding) {
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25jZQ")), upgrade_error::bad_key);
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25jZQ=")), upgrade_error::bad_key);
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25jZQ===")), upgrade_error::bad_key);
}

TEST(Handshake, RejectsKeyWithNonBase64Character) {
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25j*Q==")), upgrade_error::bad_key);
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25j-Q==")), upgrade_error::bad_key);  // base64url
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBu b25jQ==")), upgrade_error::bad_key);
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25jZ=Q=")), upgrade_error::bad_key);
}

TEST(Handshake, RejectsKeyWithNonZeroPadBits) {
  EXPECT_EQ(error_of(with_key("dGhlIHNhbXBsZSBub25jZR==")), upgrade_error::bad_key);
}

TEST(Handshake, KeyCheckAgreesWithOpenSslOnRandomNonces) {
  std::mt19937 rng(6455);
  for (int i = 0; i < 2000; ++i) {
    unsigned char nonce[16];
    for (unsigned char& b : nonce) b = static_cast<unsigned char>(rng());
    unsigned char encoded[32];
    ASSERT_EQ(EVP_EncodeBlock(encoded, nonce, 16), 24);
    std::string key(reinterpret_cast<const char*>(encoded), 24);
    EXPECT_TRUE(is_valid_websocket_key(key)) << key;
    // Changing the last data character to one with pad bits set breaks canonical form.
    key[21] = static_cast<char>(key[21] == 'B' ? 'C' : 'B');
    EXPECT_FALSE(is_valid_websocket_key(key)) << key;
  }
}

TEST(Handshake, ParsesSubprotocolList) {
  with_upgrade(request("Sec-WebSocket-Protocol: shoal.json ,  shoal.bin\r\n"
                       "Sec-WebSocket-Protocol: chat\r\n"),
               [](const upgrade_result& r) {
                 ASSERT_TRUE(r.ok());
                 EXPECT_EQ(r.upgrade.protocols,
                           (std::vector<std::string_view>{"shoal.json", "shoal.bin", "chat"}));
               });
}

TEST(Handshake, RejectsNonTokenSubprotocol) {
  EXPECT_EQ(error_of(request("Sec-WebSocket-Protocol: chat, a/b\r\n")),
            upgrade_error::bad_protocol);
  EXPECT_EQ(error_of(request("Sec-WebSocket-Protocol: chat v2\r\n")), upgrade_error::bad_protocol);
  EXPECT_EQ(error_of(request("Sec-WebSocket-Protocol: \r\n")), upgrade_error::bad_protocol);
}

TEST(Handshake, RejectsDuplicateSubprotocol) {
  EXPECT_EQ(error_of(request("Sec-WebSocket-Protocol: chat, chat\r\n")),
            upgrade_error::duplicate_protocol);
}

TEST(Handshake, ParsesExtensionOffers) {
  with_upgrade(request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                       "Sec-WebSocket-Extensions: x-foo; a=\"1\"\r\n"),
               [](const upgrade_result& r) {
                 ASSERT_TRUE(r.ok());
                 ASSERT_EQ(r.upgrade.extensions.size(), 2u);
                 EXPECT_EQ(r.upgrade.extensions[0].name, "permessage-deflate");
                 EXPECT_NE(r.upgrade.extensions[0].find("client_max_window_bits"), nullptr);
                 EXPECT_EQ(r.upgrade.extensions[1].params[0].value, "1");
               });
}

TEST(Handshake, ExtensionsSurviveEverySplit) {
  // with_upgrade compares the formatted offers at every split point.
  EXPECT_EQ(error_of(request("Sec-WebSocket-Extensions: a; b=\"c\", d ; e = f\r\n")),
            upgrade_error::none);
}

TEST(Handshake, RejectsMalformedExtensionsWith400) {
  with_upgrade(request("Sec-WebSocket-Extensions: permessage-deflate; =1\r\n"),
               [](const upgrade_result& r) {
                 EXPECT_EQ(r.error, upgrade_error::bad_extensions);
                 EXPECT_EQ(r.status, 400u);
                 EXPECT_NE(r.reason.find("RFC 6455 §9.1"), std::string_view::npos);
               });
}

TEST(Handshake, BuildsUpgradeResponse) {
  EXPECT_EQ(build_upgrade_response(rfc_key),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
}

TEST(Handshake, BuildsUpgradeResponseWithProtocolAndExtensions) {
  const http_header extra[] = {{"X-Shard", "1"}};
  EXPECT_EQ(build_upgrade_response(rfc_key, "chat",
                                   "permessage-deflate; server_no_context_takeover", extra),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
            "X-Shard: 1\r\n\r\n");
}

// Checks the shape every refusal shares and returns its body.
std::string check_refusal(const std::string& resp, unsigned status) {
  EXPECT_EQ(resp.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0u) << resp;
  EXPECT_NE(resp.find("\r\nContent-Type: text/plain; charset=utf-8\r\n"), std::string::npos)
      << resp;
  EXPECT_NE(resp.find("close\r\n"), std::string::npos) << resp;
  const std::size_t end = resp.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos);
  const std::string body = resp.substr(end + 4);
  EXPECT_NE(resp.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos) << resp;
  EXPECT_NE(body.find("RFC "), std::string::npos) << body;
  EXPECT_EQ(body.find('\n'), body.size() - 1) << body;
  return body;
}

TEST(Handshake, EveryUpgradeErrorHasAClearRefusal) {
  for (int i = 1; i <= static_cast<int>(upgrade_error::bad_extensions); ++i) {
    const auto err = static_cast<upgrade_error>(i);
    upgrade_result r;
    r.error = err;
    r.status = http_status_for(err);
    r.reason = describe(err);
    const std::string body = check_refusal(build_error_response(r), r.status);
    EXPECT_EQ(body, std::string(describe(err)) + "\n");
  }
}

TEST(Handshake, EveryParserErrorHasAClearRefusal) {
  for (int i = 1; i <= static_cast<int>(http_error::conflicting_content_length); ++i) {
    const auto err = static_cast<http_error>(i);
    check_refusal(build_error_response(err), http_status_for(err));
  }
  const std::string resp = build_error_response(http_error::head_too_large);
  EXPECT_EQ(resp.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
}

TEST(Handshake, GenericErrorResponseCarriesExtraHeaders) {
  const http_header extra[] = {{"Retry-After", "5"}};
  const std::string resp = build_error_response(503, "draining (RFC 9110 §15.6.4)", extra);
  check_refusal(resp, 503);
  EXPECT_NE(resp.find("\r\nRetry-After: 5\r\n"), std::string::npos);
}

TEST(HttpResponse, BuildsPlainResponse) {
  const http_header extra[] = {{"Cache-Control", "no-store"}};
  EXPECT_EQ(build_http_response({200, "text/plain", "ok\n", extra, false, false}),
            "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: text/plain\r\n"
            "Content-Length: 3\r\n\r\nok\n");
}

TEST(HttpResponse, HeadSendsLengthWithoutBody) {
  EXPECT_EQ(build_http_response({200, "text/plain", "ok\n", {}, true, true}),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\n");
}

TEST(HttpResponse, NoContentHasNoLengthOrBody) {
  EXPECT_EQ(build_http_response({204, "", "ignored", {}, false, false}),
            "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HttpResponse, UnknownStatusHasEmptyReasonPhrase) {
  EXPECT_EQ(build_http_response({599, "", "", {}, false, false}),
            "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");
}

TEST(HttpResponse, RefusesToSplitAResponse) {
  const http_header evil[] = {{"X-A", "1\r\nSet-Cookie: x"}};
  std::string out;
  EXPECT_DEBUG_DEATH(append_http_response(out, {200, "", "", evil, false, false}), "CR, LF");
#ifdef NDEBUG
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
#endif
}

}  // namespace
}  // namespace shoal::core
