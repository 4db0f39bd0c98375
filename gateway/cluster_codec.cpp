// The record format and JetStream's publish answer (see cluster_codec.hpp).
#include "gateway/cluster_codec.hpp"

#include <simdjson.h>

#include <charconv>

namespace shoal::gateway::cluster {

std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.front() == '+' || text.front() == '-')
    return std::nullopt;
  return v;
}

void append_entry(std::string& body, std::string_view data) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, data.size());
  body.append(digits, r.ptr);
  body += ':';
  body.append(data);
}

std::size_t entry_size(std::string_view data) noexcept {
  std::size_t digits = 1;
  for (std::size_t n = data.size(); n >= 10; n /= 10) ++digits;
  return digits + 1 + data.size();
}

bool split_record(std::string_view body, std::uint64_t count, std::vector<std::string_view>& out) {
  out.clear();
  if (count == 0) return false;
  if (count == 1) {
    out.push_back(body);
    return true;
  }
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t colon = body.find(':', at);
    if (colon == std::string_view::npos || colon == at || colon - at > 19) break;
    const auto len = parse_decimal(body.substr(at, colon - at));
    if (!len || *len > body.size() - colon - 1) break;
    out.push_back(body.substr(colon + 1, *len));
    at = colon + 1 + *len;
  }
  if (at != body.size() || out.size() != count) {
    out.clear();
    return false;
  }
  return true;
}

publish_ack parse_publish_ack(std::string_view json) {
  publish_ack ack;
  thread_local simdjson::dom::parser parser;  // one per shard, reused: no allocation per answer
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    ack.description = "JetStream's answer is not JSON";
    return ack;
  }
  simdjson::dom::object err;
  if (doc["error"].get(err) == simdjson::SUCCESS) {
    std::uint64_t code = 0;
    if (err["err_code"].get(code) == simdjson::SUCCESS) ack.err_code = static_cast<std::uint32_t>(code);
    std::string_view d;
    if (err["description"].get(d) == simdjson::SUCCESS) ack.description = std::string(d);
    if (ack.description.empty()) ack.description = "JetStream refused the publish";
    return ack;
  }
  std::uint64_t seq = 0;
  if (doc["seq"].get(seq) != simdjson::SUCCESS || seq == 0) {
    ack.description = "JetStream's answer has no sequence";
    return ack;
  }
  ack.ok = true;
  ack.seq = seq;
  return ack;
}

}  // namespace shoal::gateway::cluster
