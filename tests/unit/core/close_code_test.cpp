// Tests for core/close_code and core/protocol_error: the wire-valid close code ranges of
// RFC 6455 §7.4 checked over all 65536 values, and the error table (close code, RFC clause,
// reason length). Single-threaded.
#include "core/close_code.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/protocol_error.hpp"

namespace shoal::core {
namespace {

TEST(CloseCode, WireValidityMatchesRfcRanges) {
  for (unsigned code = 0; code <= 0xffff; ++code) {
    const bool expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                          (code >= 3000 && code <= 4999);
    EXPECT_EQ(is_valid_wire_close_code(static_cast<std::uint16_t>(code)), expected) << code;
  }
}

TEST(CloseCode, NeverOnWireCodesAreInvalid) {
  EXPECT_FALSE(is_valid_wire_close_code(static_cast<std::uint16_t>(close_code::no_status)));
  EXPECT_FALSE(is_valid_wire_close_code(static_cast<std::uint16_t>(close_code::abnormal)));
  EXPECT_FALSE(is_valid_wire_close_code(static_cast<std::uint16_t>(close_code::tls_handshake)));
}

TEST(CloseCode, DescribesNamedCodes) {
  EXPECT_EQ(describe(close_code::normal), "normal closure");
  EXPECT_EQ(describe(close_code::message_too_big), "message too big");
  EXPECT_EQ(describe(close_code::try_again_later), "try again later");
  EXPECT_EQ(describe(static_cast<close_code>(4000)), "unknown");
  std::set<std::string_view> seen;
  for (unsigned code = 1000; code <= 1015; ++code) {
    const auto name = describe(static_cast<close_code>(code));
    if (code == 1004) {
      EXPECT_EQ(name, "unknown");
    } else {
      EXPECT_TRUE(seen.insert(name).second) << code;
    }
  }
}

constexpr protocol_error all_errors[] = {
    protocol_error::reserved_bits,           protocol_error::reserved_opcode,
    protocol_error::fragmented_control,      protocol_error::control_too_long,
    protocol_error::length_top_bit,          protocol_error::non_minimal_length,
    protocol_error::unmasked_frame,          protocol_error::masked_frame,
    protocol_error::unexpected_continuation, protocol_error::expected_continuation,
    protocol_error::compressed_continuation, protocol_error::compressed_control,
    protocol_error::message_too_big,         protocol_error::invalid_utf8,
    protocol_error::close_payload_length_one, protocol_error::invalid_close_code,
    protocol_error::invalid_close_reason,    protocol_error::inflate_failed,
};

TEST(ProtocolError, MapsToCloseCodes) {
  for (protocol_error err : all_errors) {
    close_code expected = close_code::protocol_error;
    if (err == protocol_error::message_too_big) expected = close_code::message_too_big;
    if (err == protocol_error::invalid_utf8 || err == protocol_error::invalid_close_reason ||
        err == protocol_error::inflate_failed) {
      expected = close_code::invalid_payload;
    }
    EXPECT_EQ(close_code_for(err), expected) << describe(err);
    EXPECT_TRUE(is_valid_wire_close_code(static_cast<std::uint16_t>(close_code_for(err))));
  }
}

TEST(ProtocolError, ReasonsNameTheClauseAndFitACloseFrame) {
  std::set<std::string_view> seen;
  for (protocol_error err : all_errors) {
    const std::string_view reason = describe(err);
    EXPECT_LE(reason.size(), max_close_reason) << reason;
    EXPECT_TRUE(reason.starts_with("RFC 6455 ") || reason.starts_with("RFC 7692 ")) << reason;
    EXPECT_TRUE(seen.insert(reason).second) << reason;
  }
  EXPECT_EQ(describe(static_cast<protocol_error>(200)), "unknown protocol error");
  EXPECT_EQ(close_code_for(static_cast<protocol_error>(200)), close_code::protocol_error);
}

}  // namespace
}  // namespace shoal::core
