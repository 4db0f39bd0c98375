// Tests for Sec-WebSocket-Extensions parsing and formatting (core/extension_offer.hpp). The
// parser works on a complete field value; the split-point tests of the request parser that
// carries it are in handshake_test.cpp (Handshake.ExtensionsSurviveEverySplit).
#include "core/extension_offer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shoal::core {
namespace {

std::vector<extension_offer> parse_ok(std::string_view value) {
  std::vector<extension_offer> out;
  EXPECT_EQ(parse_extension_offers(value, out), extension_error::none) << value;
  return out;
}

extension_error parse_error(std::string_view value) {
  std::vector<extension_offer> out;
  return parse_extension_offers(value, out);
}

TEST(ExtensionOffer, ParsesSingleName) {
  const auto offers = parse_ok("permessage-deflate");
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].name, "permessage-deflate");
  EXPECT_TRUE(offers[0].params.empty());
}

TEST(ExtensionOffer, ParsesParamsWithAndWithoutValues) {
  const auto offers =
      parse_ok("permessage-deflate; client_max_window_bits; server_max_window_bits=10");
  ASSERT_EQ(offers.size(), 1u);
  ASSERT_EQ(offers[0].params.size(), 2u);
  EXPECT_EQ(offers[0].params[0].name, "client_max_window_bits");
  EXPECT_FALSE(offers[0].params[0].has_value);
  EXPECT_EQ(offers[0].params[1].name, "server_max_window_bits");
  EXPECT_TRUE(offers[0].params[1].has_value);
  EXPECT_EQ(offers[0].params[1].value, "10");
}

TEST(ExtensionOffer, ParsesSeveralOffersInOrder) {
  // RFC 7692 §5.1's example: two offers of one extension, the client's preference first.
  const auto offers = parse_ok(
      "permessage-deflate; client_max_window_bits=10, permessage-deflate, x-webkit-deflate-frame");
  ASSERT_EQ(offers.size(), 3u);
  EXPECT_EQ(offers[0].name, "permessage-deflate");
  EXPECT_EQ(offers[0].params.size(), 1u);
  EXPECT_EQ(offers[1].name, "permessage-deflate");
  EXPECT_TRUE(offers[1].params.empty());
  EXPECT_EQ(offers[2].name, "x-webkit-deflate-frame");
}

TEST(ExtensionOffer, UnescapesQuotedValues) {
  const auto offers = parse_ok("foo; a=\"10\"; b=\"1\\5\"");
  ASSERT_EQ(offers[0].params.size(), 2u);
  EXPECT_EQ(offers[0].params[0].value, "10");
  EXPECT_EQ(offers[0].params[1].value, "15");
}

TEST(ExtensionOffer, AcceptsWhitespaceAroundSeparators) {
  const auto offers = parse_ok(" \tfoo ;\tbar = 1 ; baz ,  qux\t");
  ASSERT_EQ(offers.size(), 2u);
  ASSERT_EQ(offers[0].params.size(), 2u);
  EXPECT_EQ(offers[0].params[0].name, "bar");
  EXPECT_EQ(offers[0].params[0].value, "1");
  EXPECT_EQ(offers[0].params[1].name, "baz");
  EXPECT_EQ(offers[1].name, "qux");
}

TEST(ExtensionOffer, IgnoresEmptyListElements) {
  const auto offers = parse_ok(", foo,, ,bar,");
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].name, "foo");
  EXPECT_EQ(offers[1].name, "bar");
}

TEST(ExtensionOffer, SeveralHeaderLinesCombine) {
  std::vector<extension_offer> out;
  ASSERT_EQ(parse_extension_offers("foo; a=1", out), extension_error::none);
  ASSERT_EQ(parse_extension_offers("bar", out), extension_error::none);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "foo");
  EXPECT_EQ(out[1].name, "bar");
}

TEST(ExtensionOffer, KeepsDuplicateParamsForTheNegotiator) {
  const auto offers = parse_ok("permessage-deflate; server_no_context_takeover; "
                               "Server_No_Context_Takeover");
  EXPECT_EQ(offers[0].count("server_no_context_takeover"), 2u);
  ASSERT_NE(offers[0].find("SERVER_NO_CONTEXT_TAKEOVER"), nullptr);
  EXPECT_EQ(offers[0].find("client_max_window_bits"), nullptr);
}

TEST(ExtensionOffer, RejectsEmptyList) {
  EXPECT_EQ(parse_error(""), extension_error::empty_list);
  EXPECT_EQ(parse_error(" , ,"), extension_error::empty_list);
}

TEST(ExtensionOffer, RejectsMissingOrBadName) {
  EXPECT_EQ(parse_error("; a=1"), extension_error::bad_name);
  EXPECT_EQ(parse_error("foo, =x"), extension_error::bad_name);
  EXPECT_EQ(parse_error("\"foo\""), extension_error::bad_name);
}

TEST(ExtensionOffer, RejectsEmptyParamName) {
  EXPECT_EQ(parse_error("foo;"), extension_error::bad_param_name);
  EXPECT_EQ(parse_error("foo; ; a"), extension_error::bad_param_name);
  EXPECT_EQ(parse_error("foo; =1"), extension_error::bad_param_name);
}

TEST(ExtensionOffer, RejectsEmptyOrNonTokenValue) {
  EXPECT_EQ(parse_error("foo; a="), extension_error::bad_param_value);
  EXPECT_EQ(parse_error("foo; a=,bar"), extension_error::bad_param_value);
  EXPECT_EQ(parse_error("foo; a=\"\""), extension_error::bad_param_value);
  EXPECT_EQ(parse_error("foo; a=\"1 5\""), extension_error::bad_param_value);
  EXPECT_EQ(parse_error("foo; a=\"x,y\""), extension_error::bad_param_value);
}

TEST(ExtensionOffer, RejectsMalformedQuotedString) {
  EXPECT_EQ(parse_error("foo; a=\"10"), extension_error::bad_quoted_string);
  EXPECT_EQ(parse_error("foo; a=\"10\\"), extension_error::bad_quoted_string);
  EXPECT_EQ(parse_error(std::string("foo; a=\"1\x01\"")), extension_error::bad_quoted_string);
}

TEST(ExtensionOffer, RejectsUnexpectedCharacters) {
  EXPECT_EQ(parse_error("foo bar"), extension_error::unexpected_character);
  EXPECT_EQ(parse_error("foo/1"), extension_error::unexpected_character);
  EXPECT_EQ(parse_error("foo; a=1 2"), extension_error::unexpected_character);
  EXPECT_EQ(parse_error("foo; a=\"1\"x"), extension_error::unexpected_character);
  EXPECT_EQ(parse_error("foo; a==1"), extension_error::bad_param_value);
}

TEST(ExtensionOffer, FormatsParams) {
  const std::vector<extension_param> params = {{"server_no_context_takeover", "", false},
                                               {"client_max_window_bits", "10", true}};
  std::string out;
  append_extension(out, "permessage-deflate", params);
  EXPECT_EQ(out, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
}

TEST(ExtensionOffer, FormatQuotesNonTokenValues) {
  const std::vector<extension_param> params = {{"a", "x y\"z\\", true}, {"b", "", true}};
  std::string out;
  append_extension(out, "foo", params);
  EXPECT_EQ(out, "foo; a=\"x y\\\"z\\\\\"; b=\"\"");
}

TEST(ExtensionOffer, FormatRoundTrips) {
  const std::string in = "a; x=1; y, b, c; z=\"2\"";
  const auto offers = parse_ok(in);
  const std::string formatted = format_extensions(offers);
  EXPECT_EQ(formatted, "a; x=1; y, b, c; z=2");
  const auto again = parse_ok(formatted);
  EXPECT_EQ(format_extensions(again), formatted);
}

TEST(ExtensionOffer, EveryErrorNamesItsRfcClause) {
  for (int i = 1; i <= static_cast<int>(extension_error::unexpected_character); ++i) {
    const std::string_view reason = describe(static_cast<extension_error>(i));
    EXPECT_NE(reason.find("RFC "), std::string_view::npos) << reason;
  }
}

}  // namespace
}  // namespace shoal::core
