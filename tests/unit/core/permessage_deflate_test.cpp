// permessage-deflate negotiation (RFC 7692 §5, §7): the server's choice among offers under its
// policy, the exact response element, declines of malformed offers, and the client's validation
// of a server's response.
#include "core/permessage_deflate.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace shoal::core {
namespace {

std::vector<extension_offer> parse(const std::string& header) {
  // The parsed names are views into the header: keep every header alive for the test's length.
  static std::vector<std::unique_ptr<std::string>> keep;
  keep.push_back(std::make_unique<std::string>(header));
  std::vector<extension_offer> out;
  EXPECT_EQ(parse_extension_offers(*keep.back(), out), extension_error::none) << header;
  return out;
}

deflate_policy on() {
  deflate_policy p;
  p.enabled = true;
  return p;
}

deflate_policy takeover_both() {
  deflate_policy p = on();
  p.server_context_takeover = true;
  p.client_context_takeover = true;
  return p;
}

deflate_agreement negotiate(const std::string& header, const deflate_policy& policy) {
  return negotiate_deflate(parse(header), policy);
}

void expect_response(const std::string& header, const deflate_policy& policy,
                     const std::string& response) {
  const deflate_agreement a = negotiate(header, policy);
  ASSERT_TRUE(a.accepted) << header << ": " << describe(a.last_decline);
  EXPECT_EQ(a.response, response) << header;
}

void expect_declined(const std::string& header, deflate_param_error why,
                     const deflate_policy& policy = on()) {
  const deflate_agreement a = negotiate(header, policy);
  EXPECT_FALSE(a.accepted) << header << " -> " << a.response;
  EXPECT_EQ(a.last_decline, why) << header << ": " << describe(a.last_decline);
}

TEST(DeflateNegotiation, DisabledPolicyAcceptsNothing) {
  deflate_policy p;
  EXPECT_FALSE(negotiate("permessage-deflate", p).accepted);
}

TEST(DeflateNegotiation, BareOfferWithTakeoverPolicy) {
  expect_response("permessage-deflate", takeover_both(), "permessage-deflate");
  const deflate_agreement a = negotiate("permessage-deflate", takeover_both());
  EXPECT_EQ(a.params, deflate_params{});
}

TEST(DeflateNegotiation, DefaultPolicyAddsServerNoContextTakeover) {
  // RFC 7692 §7.1.1.1: a server may add server_no_context_takeover unasked (compress once).
  expect_response("permessage-deflate", on(), "permessage-deflate; server_no_context_takeover");
  expect_response("permessage-deflate; client_max_window_bits", on(),
                  "permessage-deflate; server_no_context_takeover");
}

TEST(DeflateNegotiation, ServerNoContextTakeoverOfferedIsConfirmed) {
  expect_response("permessage-deflate; server_no_context_takeover", takeover_both(),
                  "permessage-deflate; server_no_context_takeover");
  EXPECT_TRUE(negotiate("permessage-deflate; server_no_context_takeover", takeover_both())
                  .params.server_no_context_takeover);
}

TEST(DeflateNegotiation, ClientNoContextTakeover) {
  // Offered: confirmed, so the hint binds (RFC 7692 §7.1.1.2).
  expect_response("permessage-deflate; client_no_context_takeover", takeover_both(),
                  "permessage-deflate; client_no_context_takeover");
  // Required by policy: added unasked.
  deflate_policy p = takeover_both();
  p.client_context_takeover = false;
  expect_response("permessage-deflate", p, "permessage-deflate; client_no_context_takeover");
  EXPECT_TRUE(negotiate("permessage-deflate", p).params.client_no_context_takeover);
}

TEST(DeflateNegotiation, ServerMaxWindowBits) {
  // §7.1.2.1: the response carries the same or a smaller value.
  expect_response("permessage-deflate; server_max_window_bits=10", takeover_both(),
                  "permessage-deflate; server_max_window_bits=10");
  expect_response("permessage-deflate; server_max_window_bits=15", takeover_both(),
                  "permessage-deflate; server_max_window_bits=15");
  deflate_policy p = takeover_both();
  p.server_max_window_bits = 12;
  expect_response("permessage-deflate; server_max_window_bits=14", p,
                  "permessage-deflate; server_max_window_bits=12");
  expect_response("permessage-deflate; server_max_window_bits=9", p,
                  "permessage-deflate; server_max_window_bits=9");
  // Not offered: the server compresses with its smaller window without announcing it (any
  // inflater accepts a smaller window; Firefox refuses the parameter unasked).
  expect_response("permessage-deflate", p, "permessage-deflate");
  EXPECT_EQ(negotiate("permessage-deflate", p).params.server_max_window_bits, 12);
  EXPECT_EQ(negotiate("permessage-deflate; server_max_window_bits=8", p)
                .params.server_max_window_bits, 8);
  // Quoted values are values too (RFC 6455 §9.1 quoted-string).
  expect_response("permessage-deflate; server_max_window_bits=\"11\"", p,
                  "permessage-deflate; server_max_window_bits=11");
  // 1*DIGIT: leading zeros still name 8..15.
  expect_response("permessage-deflate; server_max_window_bits=010", p,
                  "permessage-deflate; server_max_window_bits=10");
}

TEST(DeflateNegotiation, ClientMaxWindowBits) {
  const deflate_policy p = takeover_both();
  // Without a value: the client supports the parameter; a 15-bit policy does not use it.
  expect_response("permessage-deflate; client_max_window_bits", p, "permessage-deflate");
  EXPECT_EQ(negotiate("permessage-deflate; client_max_window_bits", p).params.client_max_window_bits,
            15);
  // With a value: the client will not exceed it; confirmed explicitly.
  expect_response("permessage-deflate; client_max_window_bits=10", p,
                  "permessage-deflate; client_max_window_bits=10");
  deflate_policy small = p;
  small.client_max_window_bits = 11;
  expect_response("permessage-deflate; client_max_window_bits", small,
                  "permessage-deflate; client_max_window_bits=11");
  expect_response("permessage-deflate; client_max_window_bits=13", small,
                  "permessage-deflate; client_max_window_bits=11");
  expect_response("permessage-deflate; client_max_window_bits=9", small,
                  "permessage-deflate; client_max_window_bits=9");
  // §7.1.2.2: without the parameter the server must not send it, so a limiting policy declines.
  expect_declined("permessage-deflate", deflate_param_error::client_window_unlimited, small);
}

TEST(DeflateNegotiation, EveryParameterTogether) {
  deflate_policy p = takeover_both();
  p.server_max_window_bits = 13;
  p.client_max_window_bits = 12;
  const deflate_agreement a = negotiate(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
      "server_max_window_bits=14; client_max_window_bits=10", p);
  ASSERT_TRUE(a.accepted);
  EXPECT_EQ(a.response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=13; client_max_window_bits=10");
  EXPECT_EQ(a.params, (deflate_params{true, true, 13, 10}));
}

TEST(DeflateNegotiation, ParameterNamesAreCaseInsensitive) {
  expect_response("Permessage-Deflate; Server_Max_Window_Bits=10", takeover_both(),
                  "permessage-deflate; server_max_window_bits=10");
}

TEST(DeflateNegotiation, DeclinesInvalidWindowValues) {
  for (const char* v : {"7", "16", "0", "abc", "1a", "-9", "99999999999999999999", "8.5", "\"16\""}) {
    expect_declined(std::string("permessage-deflate; server_max_window_bits=") + v,
                    deflate_param_error::invalid_value);
    expect_declined(std::string("permessage-deflate; client_max_window_bits=") + v,
                    deflate_param_error::invalid_value);
  }
  // §7.1.2.1: server_max_window_bits always has a value.
  expect_declined("permessage-deflate; server_max_window_bits", deflate_param_error::missing_value);
}

TEST(DeflateNegotiation, DeclinesMalformedOffers) {
  expect_declined("permessage-deflate; x_unknown", deflate_param_error::unknown_param);
  expect_declined("permessage-deflate; server_no_context_takeover=1",
                  deflate_param_error::unexpected_value);
  expect_declined("permessage-deflate; client_no_context_takeover=true",
                  deflate_param_error::unexpected_value);
  for (const char* dup : {"server_no_context_takeover; server_no_context_takeover",
                          "client_no_context_takeover; client_no_context_takeover",
                          "server_max_window_bits=10; server_max_window_bits=10",
                          "client_max_window_bits; client_max_window_bits=10",
                          "client_max_window_bits=9; CLIENT_MAX_WINDOW_BITS=9"}) {
    expect_declined(std::string("permessage-deflate; ") + dup, deflate_param_error::duplicate_param);
  }
}

TEST(DeflateNegotiation, TakesFirstOfferItCanHonour) {
  deflate_policy p = takeover_both();
  p.client_max_window_bits = 10;
  // The first is malformed, the second cannot be limited, the third is accepted.
  const deflate_agreement a = negotiate(
      "permessage-deflate; server_max_window_bits=16, permessage-deflate, "
      "permessage-deflate; client_max_window_bits, permessage-deflate; server_no_context_takeover",
      p);
  ASSERT_TRUE(a.accepted);
  EXPECT_EQ(a.offer_index, 2u);
  EXPECT_EQ(a.response, "permessage-deflate; client_max_window_bits=10");
}

TEST(DeflateNegotiation, SkipsOtherExtensions) {
  const deflate_agreement a =
      negotiate("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", on());
  ASSERT_TRUE(a.accepted);
  EXPECT_EQ(a.offer_index, 1u);
  EXPECT_FALSE(negotiate("x-webkit-deflate-frame", on()).accepted);
}

TEST(DeflateNegotiation, BrowserAndLibraryOffers) {
  // What Chrome, Firefox, Node ws and Python websockets send by default.
  const deflate_agreement a = negotiate("permessage-deflate; client_max_window_bits", on());
  ASSERT_TRUE(a.accepted);
  EXPECT_EQ(a.params, (deflate_params{true, false, 15, 15}));
}

TEST(DeflateNegotiation, PolicyCheck) {
  EXPECT_TRUE(check_policy(on()).empty());
  deflate_policy p = on();
  p.server_max_window_bits = 7;
  EXPECT_FALSE(check_policy(p).empty());
  p = on();
  p.client_max_window_bits = 16;
  EXPECT_FALSE(check_policy(p).empty());
  p = on();
  p.mem_level = 0;
  EXPECT_FALSE(check_policy(p).empty());
  p = on();
  p.compression_level = 10;
  EXPECT_FALSE(check_policy(p).empty());
}

TEST(DeflateNegotiation, SettingsFollowTheAgreement) {
  deflate_policy p = on();
  p.mem_level = 5;
  p.compression_level = 3;
  const deflate_params params{true, false, 12, 10};
  EXPECT_EQ(server_deflater_settings(params, p), (deflater_settings{12, 5, 3, false}));
  EXPECT_EQ(server_inflater_settings(params), (inflater_settings{10, true}));
  EXPECT_EQ(client_deflater_settings(params, 4, 2), (deflater_settings{10, 4, 2, true}));
  EXPECT_EQ(client_inflater_settings(params), (inflater_settings{12, false}));
}

// --- client side ---

deflate_response validate(const std::string& header, const deflate_client_offer& offer) {
  return validate_deflate_response(parse(header), offer);
}

void expect_refused(const std::string& header, const deflate_client_offer& offer,
                    deflate_param_error why) {
  const deflate_response r = validate(header, offer);
  EXPECT_EQ(r.error, why) << header << ": " << describe(r.error);
}

TEST(DeflateClient, FormatsOffers) {
  EXPECT_EQ(format_deflate_offer({}), "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(format_deflate_offer({true, true, 10, true, 9}),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=9");
  deflate_client_offer bare;
  bare.offer_client_max_window_bits = false;
  EXPECT_EQ(format_deflate_offer(bare), "permessage-deflate");
}

TEST(DeflateClient, AcceptsValidResponses) {
  const deflate_client_offer offer;  // "permessage-deflate; client_max_window_bits"
  deflate_response r = validate("permessage-deflate", offer);
  EXPECT_EQ(r.error, deflate_param_error::none);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.params, deflate_params{});
  r = validate("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
               "server_max_window_bits=9; client_max_window_bits=10", offer);
  EXPECT_EQ(r.error, deflate_param_error::none);
  EXPECT_EQ(r.params, (deflate_params{true, true, 9, 10}));
  // No extension in the response: connected without compression.
  r = validate_deflate_response({}, offer);
  EXPECT_EQ(r.error, deflate_param_error::none);
  EXPECT_FALSE(r.accepted);
}

TEST(DeflateClient, RoundTripWithTheServer) {
  // Whatever our server answers, our client accepts, with the same parameters.
  const deflate_client_offer offers[] = {{}, {true, false, 0, true, 0}, {false, true, 12, true, 11},
                                         {true, true, 9, true, 8}};
  deflate_policy policies[3] = {on(), takeover_both(), takeover_both()};
  policies[2].server_max_window_bits = 10;
  policies[2].client_max_window_bits = 9;
  for (const deflate_client_offer& offer : offers) {
    for (const deflate_policy& policy : policies) {
      const deflate_agreement a = negotiate(format_deflate_offer(offer), policy);
      ASSERT_TRUE(a.accepted) << format_deflate_offer(offer);
      const deflate_response r = validate(a.response, offer);
      EXPECT_EQ(r.error, deflate_param_error::none) << a.response;
      // Same agreement, except that the server may compress with a smaller window than the
      // client allows for.
      deflate_params expected = a.params;
      expected.server_max_window_bits = r.params.server_max_window_bits;
      EXPECT_EQ(r.params, expected) << a.response;
      EXPECT_GE(r.params.server_max_window_bits, a.params.server_max_window_bits);
    }
  }
}

TEST(DeflateClient, OfferedWindowWithoutResponseValueKeepsTheOffer) {
  deflate_client_offer offer;
  offer.client_max_window_bits = 11;
  EXPECT_EQ(validate("permessage-deflate", offer).params.client_max_window_bits, 11);
}

TEST(DeflateClient, RefusesBadResponses) {
  const deflate_client_offer offer;
  expect_refused("x-other", offer, deflate_param_error::extension_not_offered);
  expect_refused("permessage-deflate, permessage-deflate", offer,
                 deflate_param_error::duplicate_extension);
  expect_refused("permessage-deflate; foo", offer, deflate_param_error::unknown_param);
  expect_refused("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                 offer, deflate_param_error::duplicate_param);
  expect_refused("permessage-deflate; client_no_context_takeover=x", offer,
                 deflate_param_error::unexpected_value);
  expect_refused("permessage-deflate; server_max_window_bits=16", offer,
                 deflate_param_error::invalid_value);
  expect_refused("permessage-deflate; server_max_window_bits=abc", offer,
                 deflate_param_error::invalid_value);
  expect_refused("permessage-deflate; client_max_window_bits=7", offer,
                 deflate_param_error::invalid_value);
  // A response's client_max_window_bits needs a value (§7.1.2.2).
  expect_refused("permessage-deflate; client_max_window_bits", offer,
                 deflate_param_error::missing_value);
}

TEST(DeflateClient, RefusesResponsesThatBreakTheOffer) {
  deflate_client_offer offer;
  offer.server_max_window_bits = 10;
  expect_refused("permessage-deflate", offer, deflate_param_error::missing_server_window);
  expect_refused("permessage-deflate; server_max_window_bits=11", offer,
                 deflate_param_error::server_window_too_large);
  EXPECT_EQ(validate("permessage-deflate; server_max_window_bits=10", offer).error,
            deflate_param_error::none);

  deflate_client_offer no_client_bits;
  no_client_bits.offer_client_max_window_bits = false;
  expect_refused("permessage-deflate; client_max_window_bits=10", no_client_bits,
                 deflate_param_error::unrequested_client_window);

  deflate_client_offer client_bits;
  client_bits.client_max_window_bits = 10;
  expect_refused("permessage-deflate; client_max_window_bits=12", client_bits,
                 deflate_param_error::client_window_too_large);

  deflate_client_offer no_takeover;
  no_takeover.server_no_context_takeover = true;
  expect_refused("permessage-deflate", no_takeover, deflate_param_error::missing_server_no_takeover);
}

TEST(DeflateClient, ServerMayAddParametersUnasked) {
  // §7.1.1.1, §7.1.1.2, §7.1.2.1: server_no_context_takeover, client_no_context_takeover and
  // server_max_window_bits may come without being offered.
  const deflate_response r = validate(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
      "server_max_window_bits=12", deflate_client_offer{});
  EXPECT_EQ(r.error, deflate_param_error::none);
  EXPECT_EQ(r.params, (deflate_params{true, true, 12, 15}));
}

TEST(DeflateClient, EveryErrorIsDescribed) {
  for (int e = 0; e <= static_cast<int>(deflate_param_error::client_window_too_large); ++e) {
    const std::string_view d = describe(static_cast<deflate_param_error>(e));
    EXPECT_FALSE(d.empty());
    if (e != 0) {
      EXPECT_NE(d.find("RFC"), std::string_view::npos) << d;
    }
  }
}

}  // namespace
}  // namespace shoal::core
