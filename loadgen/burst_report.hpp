// The burst scenario's counts and what the report makes of them: the raw tallies the worker
// threads collect (per subscriber, per publishing side, acks per topic), summarised per topic
// group (the hot topic; the quiet topics together) into delivered vs expected, refusals by error
// code, gaps, order violations, duplicates and loss. Main thread, after the workers joined.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shoal::loadgen {

// One subscriber at the end of the run. Topic 0 is the hot topic, 1.. the quiet ones.
struct subscriber_tally {
  std::uint32_t topic = 0;
  std::uint64_t delivered = 0;         // distinct messages (duplicates not counted)
  std::uint64_t gap_notices = 0;
  std::uint64_t gap_messages = 0;      // messages the gap notices announced missing
  std::uint64_t order_violations = 0;  // a seq below one already seen (not a duplicate)
  std::uint64_t duplicates = 0;        // a seq seen before
};

// The publishes of one side (the pipelining publishers of the hot topic, or the quiet stream).
struct publish_tally {
  std::uint64_t sent = 0;
  std::uint64_t acked = 0;
  std::map<std::string, std::uint64_t> refusals;  // error answers to publishes, by code
  std::uint64_t unmatched = 0;  // answers whose id matched no publish awaiting one

  std::uint64_t refused() const noexcept;
  void add(const publish_tally& other);
};

struct burst_tallies {
  std::uint64_t pipeline = 0;           // --pipeline: publishes per hot publisher
  std::uint64_t publishers = 0;         // hot publishers
  std::uint64_t quiet_topics = 0;
  double quiet_rate = 0;
  publish_tally hot, quiet;
  std::vector<std::uint64_t> acked_per_topic;  // index 0 hot, 1.. quiet
  std::vector<subscriber_tally> subscribers;
};

// The hot topic, or the quiet topics together. A subscriber expects every publish acked on its
// topic; its loss is what is neither delivered nor announced by a gap notice (never negative).
struct topic_group {
  publish_tally publishes;
  std::uint64_t subscribers = 0;
  std::uint64_t expected = 0, delivered = 0;          // totals over the subscribers
  std::uint64_t expected_min = 0, expected_max = 0;   // per subscriber
  std::uint64_t delivered_min = 0, delivered_max = 0; // per subscriber
  std::uint64_t gap_notices = 0, gap_messages = 0;
  std::uint64_t order_violations = 0, duplicates = 0;
  std::uint64_t loss = 0;

  // Publishes neither acked nor refused by the end of the run.
  std::uint64_t unanswered() const noexcept;
  // Nothing refused, unanswered, lost, announced missing, out of order or repeated.
  bool complete() const noexcept;
};

struct burst_summary {
  topic_group hot, quiet;
};

burst_summary summarize_burst(const burst_tallies& t);

// Text lines for the summary (indented two spaces) and the JSON members ,"hot":{..},"quiet":{..}
// (the quiet one only with quiet topics).
void append_burst_text(std::string& out, const burst_tallies& t, const burst_summary& s);
void append_burst_json(std::string& out, const burst_tallies& t, const burst_summary& s);

}  // namespace shoal::loadgen
