// Tests for loadgen/token_plan: the token of each connection (round robin by the run's index,
// the same whether the run is one process or split), --token-file parsing, and the pieces of the
// handshake the token goes into.
#include "loadgen/token_plan.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "loadgen/options.hpp"

namespace shoal::loadgen {
namespace {

constexpr std::string_view jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZyJ9.c2lnbmF0dXJl-_";

TEST(TokenPlan, NoTokenIsEmpty) {
  const token_plan plan;
  EXPECT_TRUE(plan.token_for(0).empty());
  EXPECT_TRUE(plan.token_for(12345).empty());
}

TEST(TokenPlan, RoundRobinByRunIndex) {
  token_plan plan;
  plan.tokens = {"a", "b", "c"};
  EXPECT_EQ(plan.token_for(0), "a");
  EXPECT_EQ(plan.token_for(1), "b");
  EXPECT_EQ(plan.token_for(2), "c");
  EXPECT_EQ(plan.token_for(3), "a");
  EXPECT_EQ(plan.token_for(3'000'001), "b");
}

// Echo and connect give thread t of a process starting at first_connection its id-th connection
// the run index first_connection + t + id * threads; the processes of a split run together cover
// 0..N-1 once each, so every connection gets the token a single process would have given it.
TEST(TokenPlan, SplitRunKeepsTheAssignment) {
  token_plan plan;
  plan.tokens = {"t0", "t1", "t2", "t3", "t4"};
  constexpr std::uint64_t connections = 23;
  constexpr unsigned processes = 3, threads = 2;
  std::vector<std::string> got(connections);
  std::uint64_t first = 0;
  for (unsigned k = 0; k < processes; ++k) {
    const std::uint64_t mine = share_of(connections, processes, k);
    for (unsigned t = 0; t < threads; ++t)
      for (std::uint64_t id = 0; id < share_of(mine, threads, t); ++id) {
        const std::uint64_t index = first + t + id * threads;
        ASSERT_LT(index, connections);
        EXPECT_TRUE(got[index].empty()) << "index " << index << " twice";
        got[index] = plan.token_for(index);
      }
    first += mine;
  }
  for (std::uint64_t i = 0; i < connections; ++i) EXPECT_EQ(got[i], plan.token_for(i)) << i;
}

TEST(TokenPlan, PlacementNames) {
  EXPECT_EQ(parse_token_placement("header"), token_placement::header);
  EXPECT_EQ(parse_token_placement("query"), token_placement::query);
  EXPECT_EQ(parse_token_placement("message"), token_placement::message);
  EXPECT_FALSE(parse_token_placement("Header"));
  EXPECT_FALSE(parse_token_placement(""));
  EXPECT_FALSE(parse_token_placement("cookie"));
}

TEST(TokenPlan, TokenCharacters) {
  EXPECT_EQ(bad_token_char(jwt), std::string_view::npos);
  EXPECT_EQ(bad_token_char("abc=="), 3u);  // padding is not base64url as JWTs write it
  EXPECT_EQ(bad_token_char("a b"), 1u);
  EXPECT_EQ(bad_token_char("a+b/c"), 1u);
  EXPECT_EQ(bad_token_char("x\"y"), 1u);
  EXPECT_EQ(bad_token_char("caf\xc3\xa9"), 3u);
}

TEST(TokenFile, OneTokenPerLineBlankLinesSkipped) {
  std::string error;
  const auto tokens = parse_token_lines("a.b.c\n\n  \nd.e.f\r\n\tg.h.i  \n\n", error);
  ASSERT_TRUE(tokens) << error;
  EXPECT_EQ(*tokens, (std::vector<std::string>{"a.b.c", "d.e.f", "g.h.i"}));
}

TEST(TokenFile, LastLineWithoutNewline) {
  std::string error;
  const auto tokens = parse_token_lines("one\ntwo", error);
  ASSERT_TRUE(tokens) << error;
  EXPECT_EQ(*tokens, (std::vector<std::string>{"one", "two"}));
}

TEST(TokenFile, EmptyOrBlankIsAnError) {
  for (const std::string_view text : {"", "\n", "  \r\n\t\n\n"}) {
    std::string error;
    EXPECT_FALSE(parse_token_lines(text, error)) << text;
    EXPECT_NE(error.find("no token"), std::string::npos) << error;
  }
}

TEST(TokenFile, BadCharacterNamesLineAndColumnNotTheToken) {
  std::string error;
  EXPECT_FALSE(parse_token_lines("good\n\n  se=cret\n", error));
  EXPECT_NE(error.find("line 3, column 5"), std::string::npos) << error;
  EXPECT_EQ(error.find("se=cret"), std::string::npos) << error;
  // Blanks inside a token are not trimmed away: two tokens on one line is a mistake.
  EXPECT_FALSE(parse_token_lines("a.b.c d.e.f\n", error));
  EXPECT_NE(error.find("line 1, column 6"), std::string::npos) << error;
}

TEST(TokenFile, ReadsAFile) {
  const std::string path = ::testing::TempDir() + "token_plan_test_tokens.txt";
  {
    std::ofstream out(path);
    out << jwt << "\n\nsecond.token.x\n";
  }
  std::string error;
  const auto tokens = read_token_file(path, error);
  ASSERT_TRUE(tokens) << error;
  EXPECT_EQ(*tokens, (std::vector<std::string>{std::string(jwt), "second.token.x"}));
  std::remove(path.c_str());
}

TEST(TokenFile, UnreadableFileIsAnError) {
  std::string error;
  EXPECT_FALSE(read_token_file(::testing::TempDir() + "no/such/token_file", error));
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
  error.clear();
  EXPECT_FALSE(read_token_file(::testing::TempDir(), error));  // a directory
  EXPECT_FALSE(error.empty());
}

TEST(TokenRequest, QueryParameterAppended) {
  EXPECT_EQ(request_target_with_token("/ws", "a.b.c"), "/ws?token=a.b.c");
  EXPECT_EQ(request_target_with_token("/ws?x=1", "a.b.c"), "/ws?x=1&token=a.b.c");
  EXPECT_EQ(request_target_with_token("/ws?", "a.b.c"), "/ws?&token=a.b.c");
  EXPECT_EQ(request_target_with_token("/", std::string(jwt)), "/?token=" + std::string(jwt));
  EXPECT_EQ(request_target_with_token("/ws#frag", "t"), "/ws?token=t#frag");
  EXPECT_EQ(request_target_with_token("/ws?a=b#frag?x", "t"), "/ws?a=b&token=t#frag?x");
}

TEST(TokenRequest, QueryPercentEncodesOutsideUnreserved) {
  EXPECT_EQ(request_target_with_token("/ws", "Az09-._~"), "/ws?token=Az09-._~");
  EXPECT_EQ(request_target_with_token("/ws", "a+b/c=&d e"), "/ws?token=a%2Bb%2Fc%3D%26d%20e");
  EXPECT_EQ(request_target_with_token("/ws", "\xc3\xa9"), "/ws?token=%C3%A9");
}

TEST(TokenRequest, BearerHeader) {
  EXPECT_EQ(bearer_header("a.b.c"), "Authorization: Bearer a.b.c\r\n");
}

TEST(TokenRequest, AuthMessage) {
  EXPECT_EQ(auth_message(jwt), R"({"op":"auth","token":")" + std::string(jwt) + "\"}");
  EXPECT_EQ(auth_message("q\"b\\\n"), R"({"op":"auth","token":"q\"b\\\u000a"})");
}

TEST(TokenAnswer, Authed) {
  const auth_answer a = read_auth_answer(R"({"op":"authed","sub":"lg","exp":1700000000})");
  EXPECT_EQ(a.kind, auth_answer_kind::authed);
}

TEST(TokenAnswer, Refused) {
  const auth_answer a = read_auth_answer(R"({"op":"error","code":"unauthorized","reason":"expired"})");
  EXPECT_EQ(a.kind, auth_answer_kind::refused);
  EXPECT_EQ(a.detail, "unauthorized");
  // Today's gateway answers an op it does not know with bad_message: a refusal too.
  const auth_answer b = read_auth_answer(R"({"op":"error","code":"bad_message","reason":"unknown op"})");
  EXPECT_EQ(b.kind, auth_answer_kind::refused);
  EXPECT_EQ(b.detail, "bad_message");
  EXPECT_EQ(read_auth_answer(R"({"op":"error"})").detail, "");
}

TEST(TokenAnswer, Unexpected) {
  const auth_answer a = read_auth_answer(R"({"op":"auth","token":"x"})");  // an echo endpoint
  EXPECT_EQ(a.kind, auth_answer_kind::unexpected);
  EXPECT_EQ(a.detail, "auth");
  EXPECT_EQ(read_auth_answer("not json").kind, auth_answer_kind::unexpected);
  EXPECT_EQ(read_auth_answer("").detail, "");
}

}  // namespace
}  // namespace shoal::loadgen
