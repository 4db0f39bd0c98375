// Tests for loadgen/source_range: --source values become the right addresses, in order, and
// malformed or oversized values are refused with a message. Pure parsing; no sockets.
#include "loadgen/source_range.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace shoal::loadgen {
namespace {

std::string text_of(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN];
  return ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
}

TEST(SourceRange, RangeIsInclusiveAndOrdered) {
  std::string error;
  const auto r = parse_source_range("127.0.0.2-127.0.0.20", error);
  ASSERT_TRUE(r) << error;
  ASSERT_EQ(r->size(), 19u);
  EXPECT_EQ(text_of(r->front()), "127.0.0.2");
  EXPECT_EQ(text_of((*r)[1]), "127.0.0.3");
  EXPECT_EQ(text_of(r->back()), "127.0.0.20");
  EXPECT_EQ(r->front().sin_family, AF_INET);
  EXPECT_EQ(r->front().sin_port, 0);
}

TEST(SourceRange, SingleAddressesAndListsAndOctetCarry) {
  std::string error;
  const auto r = parse_source_range("10.0.0.1,127.0.0.254-127.0.1.1", error);
  ASSERT_TRUE(r) << error;
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ(text_of((*r)[0]), "10.0.0.1");
  EXPECT_EQ(text_of((*r)[1]), "127.0.0.254");
  EXPECT_EQ(text_of((*r)[2]), "127.0.0.255");
  EXPECT_EQ(text_of((*r)[3]), "127.0.1.0");
  EXPECT_EQ(text_of((*r)[4]), "127.0.1.1");
}

TEST(SourceRange, RejectsMalformedReversedAndHugeValues) {
  std::string error;
  EXPECT_FALSE(parse_source_range("", error));
  EXPECT_FALSE(parse_source_range("127.0.0.1-", error));
  EXPECT_FALSE(parse_source_range("127.0.0.300", error));
  EXPECT_FALSE(parse_source_range("localhost", error));
  EXPECT_FALSE(parse_source_range("127.0.0.1,,127.0.0.2", error));
  EXPECT_FALSE(parse_source_range("127.0.0.9-127.0.0.2", error));
  EXPECT_NE(error.find("below its start"), std::string::npos);
  EXPECT_FALSE(parse_source_range("10.0.0.0-10.9.0.0", error));
  EXPECT_NE(error.find("more than"), std::string::npos);
}

}  // namespace
}  // namespace shoal::loadgen
