// Tests for the embedded web files' HTTP answers (gateway/web_assets.hpp): the table is sorted
// and well formed, folder and status-page lookups, If-None-Match by the weak comparison (lists,
// W/, *), 304 without a body, HEAD, 405, the folder redirect keeping the query, and which
// headers each kind of file gets. Single-threaded; no sockets.
#include "gateway/web_assets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "core/http_request.hpp"

namespace shoal::gateway {
namespace {

// Parses `head` (a whole request head) and answers it.
std::optional<std::string> answer(const std::string& head, bool close = false) {
  core::http_request_parser parser;
  const auto r = parser.feed(head);
  EXPECT_EQ(r.status, core::http_parse_status::complete) << head;
  return answer_web_request(parser.request(), close);
}

std::string get(std::string_view path, std::string_view extra = "", std::string_view method = "GET") {
  std::string head(method);
  head.append(" ").append(path).append(" HTTP/1.1\r\nHost: x\r\n").append(extra).append("\r\n");
  return head;
}

const web_asset& status_js() {
  const web_asset* a = find_web_asset("/status.js");
  EXPECT_NE(a, nullptr);
  return *a;
}

TEST(WebAssets, TableIsSortedWithStrongQuotedEtags) {
  const auto assets = embedded_web_assets();
  ASSERT_FALSE(assets.empty());
  EXPECT_TRUE(std::is_sorted(assets.begin(), assets.end(),
                             [](const web_asset& a, const web_asset& b) { return a.path < b.path; }));
  for (const web_asset& a : assets) {
    EXPECT_TRUE(a.path.starts_with('/')) << a.path;
    EXPECT_EQ(a.etag.size(), 34u) << a.path;  // "<32 hex digits>"
    EXPECT_TRUE(a.etag.starts_with('"') && a.etag.ends_with('"')) << a.path;
    EXPECT_FALSE(a.content_type.empty()) << a.path;
    EXPECT_EQ(find_web_asset(a.path), &a);
  }
}

TEST(WebAssets, FindsFoldersIndexAndTheStatusPage) {
  EXPECT_EQ(find_web_asset("/status"), find_web_asset("/status.html"));
  EXPECT_NE(find_web_asset("/status"), nullptr);
  EXPECT_EQ(find_web_asset("/"), nullptr);
  EXPECT_EQ(find_web_asset("/status.js/"), nullptr);
  EXPECT_EQ(find_web_asset("/status.j"), nullptr);
  EXPECT_EQ(find_web_asset("status.js"), nullptr);
  for (const web_asset& a : embedded_web_assets()) {
    if (a.path.ends_with("/index.html")) {
      EXPECT_EQ(find_web_asset(a.path.substr(0, a.path.size() - 10)), &a) << a.path;
    }
  }
  EXPECT_TRUE(is_status_path("/status"));
  EXPECT_TRUE(is_status_path("/status.css"));
  EXPECT_FALSE(is_status_path("/statusx"));
  EXPECT_FALSE(is_status_path("/demo/status.js"));
}

TEST(WebAssets, AnswersWithValidatorsAndPolicies) {
  const auto page = answer(get("/status"));
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(page->find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(page->find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_NE(page->find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
  EXPECT_NE(page->find("Content-Security-Policy: default-src 'none'; script-src 'self';"), std::string::npos);
  EXPECT_EQ(page->find("Access-Control-Allow-Origin"), std::string::npos);  // pages: same origin only
  EXPECT_EQ(page->find("Connection: close"), std::string::npos);

  const auto script = answer(get("/status.js"), true);
  ASSERT_TRUE(script);
  EXPECT_NE(script->find("ETag: " + std::string(status_js().etag) + "\r\n"), std::string::npos);
  EXPECT_NE(script->find("Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; sandbox\r\n"),
            std::string::npos);
  EXPECT_NE(script->find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(script->ends_with(status_js().body));

  const auto head = answer(get("/status.js", "", "HEAD"));
  ASSERT_TRUE(head);
  EXPECT_NE(head->find("Content-Length: " + std::to_string(status_js().body.size()) + "\r\n"), std::string::npos);
  EXPECT_TRUE(head->ends_with("\r\n\r\n"));
}

TEST(WebAssets, IfNoneMatchUsesTheWeakComparison) {
  const std::string tag(status_js().etag);
  for (const std::string& value : {tag, "W/" + tag, "\"x\", " + tag, "\"x\",W/" + tag, std::string("*")}) {
    const auto r = answer(get("/status.js", "If-None-Match: " + value + "\r\n"));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->starts_with("HTTP/1.1 304 Not Modified\r\n")) << value;
    EXPECT_NE(r->find("ETag: " + tag), std::string::npos);
    EXPECT_EQ(r->find("Content-Length"), std::string::npos) << value;
    EXPECT_TRUE(r->ends_with("\r\n\r\n")) << value;
  }
  // Two header lines; a tag that only starts like ours; an unterminated tag.
  EXPECT_TRUE(answer(get("/status.js", "If-None-Match: \"x\"\r\nIf-None-Match: " + tag + "\r\n"))
                  ->starts_with("HTTP/1.1 304"));
  for (const std::string& value : {std::string("\"x\""), tag.substr(0, 20) + "\"", tag.substr(0, 33)}) {
    const auto r = answer(get("/status.js", "If-None-Match: " + value + "\r\n"));
    EXPECT_TRUE(r->starts_with("HTTP/1.1 200 OK")) << value;
  }
}

TEST(WebAssets, OtherMethodsAndFolderRedirects) {
  const auto post = answer(get("/status.js", "Content-Length: 0\r\n", "POST"));
  ASSERT_TRUE(post);
  EXPECT_TRUE(post->starts_with("HTTP/1.1 405"));
  EXPECT_NE(post->find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_FALSE(answer(get("/nothing.js")));
  EXPECT_FALSE(answer(get("/")));
  for (const web_asset& a : embedded_web_assets()) {
    if (!a.path.ends_with("/index.html")) continue;
    const std::string folder(a.path.substr(0, a.path.size() - 11));
    const auto r = answer(get(folder + "?room=a%20b"));
    ASSERT_TRUE(r) << folder;
    EXPECT_TRUE(r->starts_with("HTTP/1.1 301")) << *r;
    EXPECT_NE(r->find("Location: " + folder + "/?room=a%20b\r\n"), std::string::npos) << *r;
  }
}

}  // namespace
}  // namespace shoal::gateway
