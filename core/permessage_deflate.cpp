// permessage-deflate negotiation (see permessage_deflate.hpp). One reader turns an element's
// parameters into a deflate_request, rejecting what RFC 7692 §7 calls malformed; the server and
// the client then apply their own rules to it. Stateless functions; safe from any thread.
#include "core/permessage_deflate.hpp"

#include <algorithm>

#include "core/http_request.hpp"

namespace shoal::core {
namespace {

constexpr std::string_view p_server_no_takeover = "server_no_context_takeover";
constexpr std::string_view p_client_no_takeover = "client_no_context_takeover";
constexpr std::string_view p_server_bits = "server_max_window_bits";
constexpr std::string_view p_client_bits = "client_max_window_bits";

// One permessage-deflate element's parameters, checked for form only.
struct deflate_request {
  bool server_no_takeover = false;
  bool client_no_takeover = false;
  std::uint8_t server_bits = 0;  // 0: absent
  bool client_bits_present = false;
  std::uint8_t client_bits = 0;  // 0: absent or without a value
};

// RFC 7692 §7.1.2.1: 1*DIGIT with a decimal value of 8..15 (leading zeros are digits too).
std::uint8_t parse_window_bits(std::string_view v) noexcept {
  if (v.empty()) return 0;
  unsigned value = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return 0;
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > max_window_bits) return 0;
  }
  return value >= min_window_bits ? static_cast<std::uint8_t>(value) : 0;
}

deflate_param_error read_flag(const extension_param& p, bool& flag) noexcept {
  if (flag) return deflate_param_error::duplicate_param;
  if (p.has_value) return deflate_param_error::unexpected_value;
  flag = true;
  return deflate_param_error::none;
}

// `value_required`: client_max_window_bits may come without a value in an offer, never in a
// response (§7.1.2.2); server_max_window_bits always needs one (§7.1.2.1).
deflate_param_error read_bits(const extension_param& p, bool& present, std::uint8_t& bits,
                              bool value_required) noexcept {
  if (present) return deflate_param_error::duplicate_param;
  present = true;
  if (!p.has_value) {
    return value_required ? deflate_param_error::missing_value : deflate_param_error::none;
  }
  bits = parse_window_bits(p.value);
  return bits == 0 ? deflate_param_error::invalid_value : deflate_param_error::none;
}

deflate_param_error read_request(const extension_offer& element, bool is_response,
                                 deflate_request& out) noexcept {
  bool server_bits_present = false;
  for (const extension_param& p : element.params) {
    deflate_param_error err;
    if (iequals(p.name, p_server_no_takeover)) {
      err = read_flag(p, out.server_no_takeover);
    } else if (iequals(p.name, p_client_no_takeover)) {
      err = read_flag(p, out.client_no_takeover);
    } else if (iequals(p.name, p_server_bits)) {
      err = read_bits(p, server_bits_present, out.server_bits, true);
    } else if (iequals(p.name, p_client_bits)) {
      err = read_bits(p, out.client_bits_present, out.client_bits, is_response);
    } else {
      err = deflate_param_error::unknown_param;
    }
    if (err != deflate_param_error::none) return err;
  }
  return deflate_param_error::none;
}

void append_bits(std::string& out, std::string_view name, std::uint8_t bits) {
  out.append("; ");
  out.append(name);
  out.push_back('=');
  if (bits >= 10) out.push_back('1');
  out.push_back(static_cast<char>('0' + bits % 10));
}

void append_flag(std::string& out, std::string_view name) {
  out.append("; ");
  out.append(name);
}

// The response element for accepted parameters. server_max_window_bits is sent only when offered
// (§7.1.2.1 requires it then): a smaller window than announced needs no announcement, since any
// inflater accepts it, and Firefox fails connections whose response carries the parameter unasked.
// client_max_window_bits only when offered (§7.1.2.2 forbids it otherwise) and below 15.
std::string format_response(const deflate_params& params, const deflate_request& offer) {
  std::string out(permessage_deflate_name);
  if (params.server_no_context_takeover) append_flag(out, p_server_no_takeover);
  if (params.client_no_context_takeover) append_flag(out, p_client_no_takeover);
  if (offer.server_bits != 0) {
    append_bits(out, p_server_bits, params.server_max_window_bits);
  }
  if (offer.client_bits_present && params.client_max_window_bits < max_window_bits) {
    append_bits(out, p_client_bits, params.client_max_window_bits);
  }
  return out;
}

deflate_param_error decide(const deflate_request& req, const deflate_policy& policy,
                           deflate_params& out) noexcept {
  // §7.1.2.2: without client_max_window_bits in the offer the client may use a 32 KiB window.
  if (!req.client_bits_present && policy.client_max_window_bits < max_window_bits) {
    return deflate_param_error::client_window_unlimited;
  }
  out.server_no_context_takeover = req.server_no_takeover || !policy.server_context_takeover;
  out.client_no_context_takeover = req.client_no_takeover || !policy.client_context_takeover;
  out.server_max_window_bits = req.server_bits != 0
      ? std::min(req.server_bits, policy.server_max_window_bits)
      : policy.server_max_window_bits;
  const std::uint8_t client_cap = req.client_bits != 0 ? req.client_bits : max_window_bits;
  out.client_max_window_bits = std::min(client_cap, policy.client_max_window_bits);
  return deflate_param_error::none;
}

bool valid_bits(std::uint8_t bits) noexcept {
  return bits >= min_window_bits && bits <= max_window_bits;
}

}  // namespace

std::string_view check_policy(const deflate_policy& policy) noexcept {
  if (!valid_bits(policy.server_max_window_bits)) return "server_max_window_bits must be 8..15";
  if (!valid_bits(policy.client_max_window_bits)) return "client_max_window_bits must be 8..15";
  if (policy.mem_level < 1 || policy.mem_level > 9) return "mem_level must be 1..9";
  if (policy.compression_level > 9) return "compression_level must be 0..9";
  return {};
}

std::string_view describe(deflate_param_error err) noexcept {
  switch (err) {
    case deflate_param_error::none: return "no error";
    case deflate_param_error::unknown_param:
      return "permessage-deflate: unknown parameter (RFC 7692 §7)";
    case deflate_param_error::duplicate_param:
      return "permessage-deflate: parameter given twice (RFC 7692 §7)";
    case deflate_param_error::unexpected_value:
      return "permessage-deflate: *_no_context_takeover takes no value (RFC 7692 §7.1.1)";
    case deflate_param_error::missing_value:
      return "permessage-deflate: window bits parameter needs a value (RFC 7692 §7.1.2)";
    case deflate_param_error::invalid_value:
      return "permessage-deflate: window bits must be 8..15 (RFC 7692 §7.1.2)";
    case deflate_param_error::client_window_unlimited:
      return "permessage-deflate: offer lacks client_max_window_bits, policy limits it (RFC 7692 §7.1.2.2)";
    case deflate_param_error::extension_not_offered:
      return "Sec-WebSocket-Extensions: response names an extension not offered (RFC 6455 §9.1)";
    case deflate_param_error::duplicate_extension:
      return "permessage-deflate accepted twice in the response (RFC 7692 §5)";
    case deflate_param_error::missing_server_window:
      return "permessage-deflate: response lacks the offered server_max_window_bits (RFC 7692 §7.1.2.1)";
    case deflate_param_error::missing_server_no_takeover:
      return "permessage-deflate: response lacks the offered server_no_context_takeover (RFC 7692 §7.1.1.1)";
    case deflate_param_error::server_window_too_large:
      return "permessage-deflate: server_max_window_bits above the offer (RFC 7692 §7.1.2.1)";
    case deflate_param_error::unrequested_client_window:
      return "permessage-deflate: client_max_window_bits was not offered (RFC 7692 §7.1.2.2)";
    case deflate_param_error::client_window_too_large:
      return "permessage-deflate: client_max_window_bits above the offer (RFC 7692 §7.1.2.2)";
  }
  return "permessage-deflate: unknown error";
}

deflate_param_error accept_deflate_offer(const extension_offer& offer, const deflate_policy& policy,
                                         deflate_params& out) {
  deflate_request req;
  const deflate_param_error err = read_request(offer, false, req);
  if (err != deflate_param_error::none) return err;
  return decide(req, policy, out);
}

deflate_agreement negotiate_deflate(std::span<const extension_offer> offers,
                                    const deflate_policy& policy) {
  deflate_agreement agreement;
  if (!policy.enabled) return agreement;
  for (std::size_t i = 0; i < offers.size(); ++i) {
    if (!iequals(offers[i].name, permessage_deflate_name)) continue;
    deflate_request req;
    deflate_params params;
    deflate_param_error err = read_request(offers[i], false, req);
    if (err == deflate_param_error::none) err = decide(req, policy, params);
    if (err != deflate_param_error::none) {
      agreement.last_decline = err;  // declined; the next offer may do (RFC 7692 §5)
      continue;
    }
    agreement.accepted = true;
    agreement.params = params;
    agreement.response = format_response(params, req);
    agreement.offer_index = i;
    return agreement;
  }
  return agreement;
}

std::string format_deflate_offer(const deflate_client_offer& offer) {
  std::string out(permessage_deflate_name);
  if (offer.server_no_context_takeover) append_flag(out, p_server_no_takeover);
  if (offer.client_no_context_takeover) append_flag(out, p_client_no_takeover);
  if (offer.server_max_window_bits != 0) append_bits(out, p_server_bits, offer.server_max_window_bits);
  if (offer.offer_client_max_window_bits) {
    if (offer.client_max_window_bits != 0) {
      append_bits(out, p_client_bits, offer.client_max_window_bits);
    } else {
      append_flag(out, p_client_bits);
    }
  }
  return out;
}

namespace {

// The client's rules for an accepted element (RFC 7692 §7.1.1, §7.1.2).
deflate_param_error check_response(const deflate_request& res, const deflate_client_offer& offer,
                                   deflate_params& out) noexcept {
  if (offer.server_max_window_bits != 0) {
    if (res.server_bits == 0) return deflate_param_error::missing_server_window;
    if (res.server_bits > offer.server_max_window_bits) {
      return deflate_param_error::server_window_too_large;
    }
  }
  if (res.client_bits_present) {
    if (!offer.offer_client_max_window_bits) return deflate_param_error::unrequested_client_window;
    if (offer.client_max_window_bits != 0 && res.client_bits > offer.client_max_window_bits) {
      return deflate_param_error::client_window_too_large;
    }
  }
  // §7.1.1.1: the server must confirm server_no_context_takeover if offered; it may add it, and
  // client_no_context_takeover, unasked.
  if (offer.server_no_context_takeover && !res.server_no_takeover) {
    return deflate_param_error::missing_server_no_takeover;
  }
  out.server_no_context_takeover = res.server_no_takeover;
  out.client_no_context_takeover = res.client_no_takeover || offer.client_no_context_takeover;
  out.server_max_window_bits = res.server_bits != 0 ? res.server_bits : max_window_bits;
  out.client_max_window_bits = res.client_bits != 0 ? res.client_bits
      : offer.client_max_window_bits != 0 ? offer.client_max_window_bits : max_window_bits;
  return deflate_param_error::none;
}

}  // namespace

deflate_response validate_deflate_response(std::span<const extension_offer> response,
                                           const deflate_client_offer& offer) {
  deflate_response result;
  for (const extension_offer& element : response) {
    if (!iequals(element.name, permessage_deflate_name)) {
      result.error = deflate_param_error::extension_not_offered;
      return result;
    }
    if (result.accepted) {
      result.error = deflate_param_error::duplicate_extension;
      return result;
    }
    deflate_request res;
    deflate_param_error err = read_request(element, true, res);
    if (err == deflate_param_error::none) err = check_response(res, offer, result.params);
    if (err != deflate_param_error::none) {
      result.error = err;
      return result;
    }
    result.accepted = true;
  }
  return result;
}

deflater_settings server_deflater_settings(const deflate_params& params,
                                           const deflate_policy& policy) noexcept {
  return {params.server_max_window_bits, policy.mem_level, policy.compression_level,
          !params.server_no_context_takeover};
}

inflater_settings server_inflater_settings(const deflate_params& params) noexcept {
  return {params.client_max_window_bits, !params.client_no_context_takeover};
}

deflater_settings client_deflater_settings(const deflate_params& params, std::uint8_t mem_level,
                                           std::uint8_t compression_level) noexcept {
  return {params.client_max_window_bits, mem_level, compression_level,
          !params.client_no_context_takeover};
}

inflater_settings client_inflater_settings(const deflate_params& params) noexcept {
  return {params.server_max_window_bits, !params.server_no_context_takeover};
}

}  // namespace shoal::core
