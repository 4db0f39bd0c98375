// Tests for the incremental HTTP/1.1 request-head parser (core/http_request.hpp). Every input is
// parsed whole, split in two at every point, and byte by byte; all must agree (parse()).
#include "core/http_request.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shoal::core {
namespace {

// An owned copy of what the parser reported, comparable across feeding strategies.
struct outcome {
  http_parse_status status = http_parse_status::need_more;
  http_error error = http_error::none;
  std::size_t consumed = 0;  // total over the feeds (complete only)
  std::string method, target, path, query, authority, host;
  bool has_query = false;
  target_form form = target_form::origin;
  unsigned major = 0, minor = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::uint64_t> content_length;
  bool transfer_encoding = false;
  bool keep_alive = false;

  bool operator==(const outcome&) const = default;
};

outcome snapshot(const http_request_parser& p, http_parse_status status, std::size_t consumed) {
  outcome o;
  o.status = status;
  o.error = p.error();
  if (status != http_parse_status::complete) return o;
  const http_request& r = p.request();
  o.consumed = consumed;
  o.method = r.method();
  o.target = r.target();
  o.path = r.path();
  o.query = r.query();
  o.authority = r.authority();
  o.host = r.host();
  o.has_query = r.has_query();
  o.form = r.form();
  o.major = r.version_major();
  o.minor = r.version_minor();
  for (const http_header& h : r.headers()) o.headers.emplace_back(h.name, h.value);
  o.content_length = r.content_length();
  o.transfer_encoding = r.has_transfer_encoding();
  o.keep_alive = r.keep_alive();
  return o;
}

// Feeds `chunks` in order until the parser stops asking for more.
outcome feed_chunks(const std::vector<std::string_view>& chunks, http_limits limits) {
  http_request_parser p(limits);
  http_parse_result r;
  std::size_t consumed = 0;
  for (std::string_view c : chunks) {
    r = p.feed(c);
    consumed += r.consumed;
    if (r.status != http_parse_status::need_more) break;
    EXPECT_EQ(r.consumed, c.size());
  }
  return snapshot(p, r.status, consumed);
}

// Parses `input` whole, at every two-way split, and byte by byte; expects the same outcome.
outcome parse(std::string_view input, http_limits limits = {}) {
  const outcome whole = feed_chunks({input}, limits);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(feed_chunks({input.substr(0, i), input.substr(i)}, limits), whole)
        << "split at " << i;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  EXPECT_EQ(feed_chunks(bytes, limits), whole) << "byte by byte";
  return whole;
}

http_error parse_error(std::string_view input, http_limits limits = {}) {
  const outcome o = parse(input, limits);
  EXPECT_EQ(o.status, http_parse_status::error);
  return o.error;
}

std::string with_header(std::string_view line) {
  return "GET / HTTP/1.1\r\nHost: a\r\n" + std::string(line) + "\r\n\r\n";
}

TEST(HttpRequest, ParsesSimpleGet) {
  const std::string in = "GET /chat?room=1&x=y HTTP/1.1\r\nHost: example.com\r\nX-A: b\r\n\r\n";
  const outcome o = parse(in);
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.consumed, in.size());
  EXPECT_EQ(o.method, "GET");
  EXPECT_EQ(o.target, "/chat?room=1&x=y");
  EXPECT_EQ(o.path, "/chat");
  EXPECT_EQ(o.query, "room=1&x=y");
  EXPECT_TRUE(o.has_query);
  EXPECT_EQ(o.form, target_form::origin);
  EXPECT_EQ(o.major, 1u);
  EXPECT_EQ(o.minor, 1u);
  EXPECT_EQ(o.host, "example.com");
  ASSERT_EQ(o.headers.size(), 2u);
  EXPECT_EQ(o.headers[1], (std::pair<std::string, std::string>("X-A", "b")));
  EXPECT_FALSE(o.content_length.has_value());
  EXPECT_FALSE(o.transfer_encoding);
}

TEST(HttpRequest, TargetWithoutQueryHasEmptyQuery) {
  const outcome o = parse("GET /a/b HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(o.path, "/a/b");
  EXPECT_EQ(o.query, "");
  EXPECT_FALSE(o.has_query);
  const outcome e = parse("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(e.path, "/a");
  EXPECT_TRUE(e.has_query);
  EXPECT_EQ(e.query, "");
}

TEST(HttpRequest, AcceptsAnyMethodToken) {
  for (std::string_view m : {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "M-SEARCH", "get"}) {
    const outcome o = parse(std::string(m) + " / HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(o.status, http_parse_status::complete) << m;
    EXPECT_EQ(o.method, m);
  }
}

TEST(HttpRequest, HeadersAreCaseInsensitive) {
  http_request_parser p;
  ASSERT_EQ(p.feed("GET / HTTP/1.1\r\nhOsT: h\r\nX-Thing: 1\r\nx-thing: 2\r\n\r\n").status,
            http_parse_status::complete);
  const http_request& r = p.request();
  EXPECT_EQ(r.header("HOST"), "h");
  EXPECT_EQ(r.header("x-THING"), "1");
  EXPECT_EQ(r.header_count("X-THING"), 2u);
  EXPECT_FALSE(r.header("X-Missing").has_value());
  std::vector<std::string_view> values;
  r.for_each_value("x-thing", [&](std::string_view v) { values.push_back(v); });
  EXPECT_EQ(values, (std::vector<std::string_view>{"1", "2"}));
}

TEST(HttpRequest, TrimsOptionalWhitespaceAroundValues) {
  const outcome o = parse(with_header("X-A: \t a  b \t"));
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.headers[1].second, "a  b");
  const outcome empty = parse(with_header("X-A:"));
  ASSERT_EQ(empty.status, http_parse_status::complete);
  EXPECT_EQ(empty.headers[1].second, "");
}

TEST(HttpRequest, AcceptsObsTextAndHtabInValue) {
  const outcome o = parse(with_header("X-A: caf\xc3\xa9\tb"));
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.headers[1].second, "caf\xc3\xa9\tb");
}

TEST(HttpRequest, ReportsConsumedSoBodyFollows) {
  const std::string head = "POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  const std::string in = head + "hello";
  const outcome o = parse(in);
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.consumed, head.size());
  EXPECT_EQ(o.content_length, 5u);
}

TEST(HttpRequest, PipelinedRequestsParseAfterReset) {
  const std::string in = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  http_request_parser p;
  auto r = p.feed(in);
  ASSERT_EQ(r.status, http_parse_status::complete);
  EXPECT_EQ(p.request().path(), "/1");
  p.reset();
  const std::string_view rest = std::string_view(in).substr(r.consumed);
  r = p.feed(rest);
  ASSERT_EQ(r.status, http_parse_status::complete);
  EXPECT_EQ(r.consumed, rest.size());
  EXPECT_EQ(p.request().path(), "/2");
}

TEST(HttpRequest, FeedAfterCompleteTakesNothing) {
  http_request_parser p;
  ASSERT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status, http_parse_status::complete);
  const auto r = p.feed("GET /");
  EXPECT_EQ(r.status, http_parse_status::complete);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(p.request().path(), "/");
}

TEST(HttpRequest, FeedAfterErrorRepeatsError) {
  http_request_parser p;
  ASSERT_EQ(p.feed("GET / HTTP/1.1\nHost: h\r\n\r\n").status, http_parse_status::error);
  const auto r = p.feed("more");
  EXPECT_EQ(r.status, http_parse_status::error);
  EXPECT_EQ(r.error, http_error::bare_lf);
  EXPECT_EQ(r.consumed, 0u);
  p.reset();
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status, http_parse_status::complete);
}

TEST(HttpRequest, NeedsMoreOnPartialHeadAndEmptyFeed) {
  http_request_parser p;
  auto r = p.feed("");
  EXPECT_EQ(r.status, http_parse_status::need_more);
  EXPECT_EQ(r.consumed, 0u);
  r = p.feed("GET / HTTP/1.1\r\nHost: h\r\n\r");
  EXPECT_EQ(r.status, http_parse_status::need_more);
  r = p.feed("\n");
  EXPECT_EQ(r.status, http_parse_status::complete);
  EXPECT_EQ(r.consumed, 1u);
}

TEST(HttpRequest, MovedParserKeepsViewsValid) {
  http_request_parser p;
  ASSERT_EQ(p.feed("GET /moved HTTP/1.1\r\nHost: h\r\n\r\n").status, http_parse_status::complete);
  const http_request_parser q = std::move(p);
  EXPECT_EQ(q.request().path(), "/moved");
  EXPECT_EQ(q.request().header("host"), "h");
}

TEST(HttpRequest, IgnoresLeadingEmptyLines) {
  const std::string in = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  const outcome o = parse(in);
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.consumed, in.size());
}

TEST(HttpRequest, AcceptsHttp10WithoutHost) {
  const outcome o = parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.minor, 0u);
  EXPECT_FALSE(o.keep_alive);
}

TEST(HttpRequest, AcceptsHigherMinorVersion) {
  const outcome o = parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.minor, 2u);
}

TEST(HttpRequest, KeepAliveFollowsVersionAndConnection) {
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
}

TEST(HttpRequest, RejectsHttp11WithoutHost) {
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\nX: y\r\n\r\n"), http_error::missing_host);
}

TEST(HttpRequest, RejectsDuplicateHost) {
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
            http_error::duplicate_host);
}

TEST(HttpRequest, ValidatesHostValue) {
  for (std::string_view ok : {"example.com", "example.com:8080", "[::1]:80", "127.0.0.1", ""}) {
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: " + std::string(ok) + "\r\n\r\n").status,
              http_parse_status::complete) << ok;
  }
  for (std::string_view bad : {"a b", "user@host", "host:80x", "[::1", "host/path", ":80"}) {
    EXPECT_EQ(parse_error("GET / HTTP/1.1\r\nHost: " + std::string(bad) + "\r\n\r\n"),
              http_error::bad_host) << bad;
  }
}

TEST(HttpRequest, RejectsBareLf) {
  EXPECT_EQ(parse_error("GET / HTTP/1.1\nHost: h\r\n\r\n"), http_error::bare_lf);
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\nHost: h\n\r\n"), http_error::bare_lf);
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\nHost: h\r\n\n"), http_error::bare_lf);
  EXPECT_EQ(parse_error("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bare_lf);
}

TEST(HttpRequest, RejectsBareCr) {
  EXPECT_EQ(parse_error(with_header("X-A: a\rb")), http_error::bare_cr);
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n"), http_error::bare_cr);
  EXPECT_EQ(parse_error("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bare_cr);
}

TEST(HttpRequest, RejectsObsFold) {
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n"), http_error::obs_fold);
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n"),
            http_error::obs_fold);
}

TEST(HttpRequest, RejectsWhitespaceAfterRequestLine) {
  EXPECT_EQ(parse_error("GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
            http_error::whitespace_after_request_line);
}

TEST(HttpRequest, RejectsWhitespaceBeforeColon) {
  EXPECT_EQ(parse_error(with_header("X-A : b")), http_error::whitespace_before_colon);
  EXPECT_EQ(parse_error(with_header("X-A\t: b")), http_error::whitespace_before_colon);
}

TEST(HttpRequest, RejectsMissingColon) {
  EXPECT_EQ(parse_error(with_header("X-A b")), http_error::missing_colon);
}

TEST(HttpRequest, RejectsBadHeaderName) {
  EXPECT_EQ(parse_error(with_header(": b")), http_error::bad_header_name);
  EXPECT_EQ(parse_error(with_header("X A: b")), http_error::bad_header_name);
  EXPECT_EQ(parse_error(with_header("X(A): b")), http_error::bad_header_name);
  EXPECT_EQ(parse_error(with_header(std::string("X\0A: b", 6))), http_error::bad_header_name);
  EXPECT_EQ(parse_error(with_header("X\x80: b")), http_error::bad_header_name);
}

TEST(HttpRequest, RejectsNulInHeaderValue) {
  EXPECT_EQ(parse_error(with_header(std::string("X-A: a\0b", 8))), http_error::bad_header_value);
}

TEST(HttpRequest, RejectsControlCharactersInHeaderValue) {
  EXPECT_EQ(parse_error(with_header("X-A: a\x01" "b")), http_error::bad_header_value);
  EXPECT_EQ(parse_error(with_header("X-A: a\x1b" "b")), http_error::bad_header_value);
  EXPECT_EQ(parse_error(with_header("X-A: a\x7f" "b")), http_error::bad_header_value);
}

TEST(HttpRequest, RejectsMalformedRequestLine) {
  EXPECT_EQ(parse_error("GET /\r\nHost: h\r\n\r\n"), http_error::bad_request_line);
  EXPECT_EQ(parse_error("GET\r\nHost: h\r\n\r\n"), http_error::bad_request_line);
  EXPECT_EQ(parse_error("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_request_line);
  EXPECT_EQ(parse_error("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_request_line);
  EXPECT_EQ(parse_error(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_request_line);
  EXPECT_EQ(parse_error("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), http_error::bad_request_line);
}

TEST(HttpRequest, RejectsNonTokenMethod) {
  EXPECT_EQ(parse_error("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_method);
  EXPECT_EQ(parse_error("G\tT / HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_method);
}

TEST(HttpRequest, RejectsMalformedVersion) {
  for (std::string_view v :
       {"http/1.1", "HTTP/1.10", "HTTP/1", "HTTP/a.1", "HTTP1.1", "HTTP/1.x"}) {
    EXPECT_EQ(parse_error("GET / " + std::string(v) + "\r\nHost: h\r\n\r\n"),
              http_error::bad_version) << v;
  }
}

TEST(HttpRequest, RejectsOtherMajorVersionsWith505) {
  EXPECT_EQ(parse_error("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), http_error::unsupported_version);
  EXPECT_EQ(parse_error("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), http_error::unsupported_version);
  EXPECT_EQ(http_status_for(http_error::unsupported_version), 505u);
}

TEST(HttpRequest, RejectsBadTargets) {
  for (std::string_view t : {"/a#frag", "/caf\xc3\xa9", "relative", "http:/x", "http://", "://h/",
                             "http://u@h/", "/a\x7f"}) {
    EXPECT_EQ(parse_error("GET " + std::string(t) + " HTTP/1.1\r\nHost: h\r\n\r\n"),
              http_error::bad_target) << t;
  }
}

TEST(HttpRequest, AcceptsAbsoluteForm) {
  const outcome o = parse("GET http://example.com:80/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.form, target_form::absolute);
  EXPECT_EQ(o.authority, "example.com:80");
  EXPECT_EQ(o.host, "example.com:80");  // the target's authority wins (RFC 9112 §3.2.2)
  EXPECT_EQ(o.path, "/x");
  EXPECT_EQ(o.query, "y=1");
  const outcome bare = parse("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(bare.path, "/");
  const outcome q = parse("GET ws://example.com?a HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(q.path, "/");
  EXPECT_EQ(q.query, "a");
}

TEST(HttpRequest, AsteriskFormOnlyForOptions) {
  const outcome o = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.form, target_form::asterisk);
  EXPECT_EQ(o.path, "*");
  EXPECT_EQ(parse_error("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_target);
}

TEST(HttpRequest, AuthorityFormOnlyForConnect) {
  const outcome o = parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_EQ(o.form, target_form::authority);
  EXPECT_EQ(o.authority, "example.com:443");
  EXPECT_EQ(o.path, "");
  EXPECT_EQ(parse_error("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_target);
  EXPECT_EQ(parse_error("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_target);
  EXPECT_EQ(parse_error("GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n"), http_error::bad_target);
}

TEST(HttpRequest, ParsesContentLength) {
  EXPECT_EQ(parse(with_header("Content-Length: 0")).content_length, 0u);
  EXPECT_EQ(parse(with_header("Content-Length: 000123")).content_length, 123u);
  EXPECT_EQ(parse(with_header("Content-Length: 999999999999999999")).content_length,
            999999999999999999u);
}

TEST(HttpRequest, AcceptsAgreeingDuplicateContentLength) {
  EXPECT_EQ(parse(with_header("Content-Length: 5\r\nContent-Length: 5")).content_length, 5u);
  EXPECT_EQ(parse(with_header("Content-Length: 5, 5")).content_length, 5u);
}

TEST(HttpRequest, RejectsConflictingContentLength) {
  EXPECT_EQ(parse_error(with_header("Content-Length: 5\r\ncontent-length: 6")),
            http_error::conflicting_content_length);
  EXPECT_EQ(parse_error(with_header("Content-Length: 5, 6")),
            http_error::conflicting_content_length);
}

TEST(HttpRequest, RejectsNonDigitContentLength) {
  for (std::string_view v : {"", "+5", "-1", "5 5", "0x10", "5,", "1e3", "1234567890123456789"}) {
    EXPECT_EQ(parse_error(with_header("Content-Length: " + std::string(v))),
              http_error::bad_content_length) << v;
  }
}

TEST(HttpRequest, ReportsTransferEncoding) {
  const outcome o = parse(with_header("Transfer-Encoding: chunked"));
  ASSERT_EQ(o.status, http_parse_status::complete);
  EXPECT_TRUE(o.transfer_encoding);
  EXPECT_FALSE(o.content_length.has_value());
}

TEST(HttpRequest, AcceptsHeadExactlyAtByteLimit) {
  const std::string in = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  const outcome o = parse(in, {in.size(), 64});
  EXPECT_EQ(o.status, http_parse_status::complete);
}

TEST(HttpRequest, RejectsHeadOverByteLimitWith431) {
  const std::string in = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(parse_error(in, {in.size() - 1, 64}), http_error::head_too_large);
  EXPECT_EQ(http_status_for(http_error::head_too_large), 431u);
  const std::string big = with_header("X-Big: " + std::string(9000, 'a'));
  EXPECT_EQ(feed_chunks({big}, {}).error, http_error::head_too_large);
}

TEST(HttpRequest, RejectsEndlessHeaderWithoutTerminator) {
  http_request_parser p({256, 64});
  auto r = p.feed("GET / HTTP/1.1\r\nX-A: ");
  const std::string chunk(64, 'a');
  for (int i = 0; i < 10 && r.status == http_parse_status::need_more; ++i) r = p.feed(chunk);
  EXPECT_EQ(r.status, http_parse_status::error);
  EXPECT_EQ(r.error, http_error::head_too_large);
}

TEST(HttpRequest, RejectsLongRequestLineWith414) {
  const std::string in = "GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(parse_error(in, {256, 64}), http_error::request_line_too_long);
  EXPECT_EQ(http_status_for(http_error::request_line_too_long), 414u);
}

TEST(HttpRequest, AcceptsExactlyMaxHeaders) {
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 3; ++i) in += "X-" + std::to_string(i) + ": v\r\n";
  in += "\r\n";
  EXPECT_EQ(parse(in, {8192, 4}).status, http_parse_status::complete);
}

TEST(HttpRequest, RejectsTooManyHeadersWith431) {
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 4; ++i) in += "X-" + std::to_string(i) + ": v\r\n";
  in += "\r\n";
  EXPECT_EQ(parse_error(in, {8192, 4}), http_error::too_many_headers);
  EXPECT_EQ(http_status_for(http_error::too_many_headers), 431u);
}

TEST(HttpRequest, DefaultLimitsAre8KiBAnd64Headers) {
  const http_limits limits;
  EXPECT_EQ(limits.max_head_bytes, 8192u);
  EXPECT_EQ(limits.max_headers, 64u);
}

TEST(HttpRequest, EveryErrorHasStatusAndRfcReason) {
  for (int i = 1; i <= static_cast<int>(http_error::conflicting_content_length); ++i) {
    const auto err = static_cast<http_error>(i);
    const std::string_view reason = describe(err);
    EXPECT_NE(reason.find("RFC "), std::string_view::npos) << reason;
    EXPECT_EQ(reason.find('\n'), std::string_view::npos) << reason;
    const unsigned status = http_status_for(err);
    EXPECT_TRUE(status == 400 || status == 414 || status == 431 || status == 505) << i;
  }
}

TEST(HttpRequest, ListHelpersFollowRfc9110) {
  EXPECT_TRUE(list_contains_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(list_contains_token(" ,, upgrade ,", "Upgrade"));
  EXPECT_FALSE(list_contains_token("Upgraded", "upgrade"));
  EXPECT_FALSE(list_contains_token("", "upgrade"));
  EXPECT_EQ(trim_ows(" \t a b \t"), "a b");
  EXPECT_TRUE(is_token("permessage-deflate"));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token(""));
}

}  // namespace
}  // namespace shoal::core
