// Internal to the pub/sub engine (pubsub_hub.cpp, pubsub_cluster*.cpp): the cluster state of a
// topic's home shard, as pubsub_cluster.cpp describes it, and the record helpers the
// pubsub_cluster*.cpp files share. Shard-owned; not for other files.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/cluster_codec.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/pubsub_hub.hpp"
#include "gateway/ring_queue.hpp"
#include "gateway/shard_message.hpp"

namespace shoal::gateway {

// Where a topic on this node stands with the stream.
enum class sync_state : std::uint8_t {
  none,       // not received on this node
  syncing,    // reading where the topic stands
  synced,     // in step with the stream: live copies are delivered as they come
  repairing,  // reading a hole in the chain from the stream; live copies wait
};

enum class request_kind : std::uint8_t { publish, fence, sync, walk };

// A stored record's headers (cluster_codec.hpp).
struct cluster_record {
  std::uint64_t sseq = 0;   // its stream sequence
  std::uint64_t prev = 0;   // the topic's record before it (Shoal-Prev), 0 for none
  std::uint64_t first = 0;  // the sequence number of its first message (Shoal-Seq)
  std::uint64_t count = 0;  // messages it holds
  std::uint64_t last() const noexcept { return first + count - 1; }
};

struct pubsub_hub::cluster_topic {
  std::uint64_t key = 0;  // watch key: live copies come as events with it
  bool watched = false;
  sync_state state = sync_state::none;
  bool ever_synced = false;
  bool recheck = false;          // a reconnection happened while a read was in flight
  std::uint64_t sync_req = 0;    // the sync or repair read in flight
  std::uint64_t last_sseq = 0;   // the record holding the last message delivered (t.last_seq)
  std::vector<std::uint64_t> ring_sseq;  // beside t.ring: the record of each message held
  std::vector<link_event_ptr> held;      // live copies waiting for the stream read, in order
  std::size_t held_bytes = 0;
  bool held_dropped = false;  // held copies were dropped at the bound: look again afterwards
  std::vector<std::unique_ptr<subscribe_job>> parked;  // subscribes waiting for the sync
  std::size_t walks = 0;                              // resumes reading the stream
  // Publishing.
  bool fence_known = false;
  std::uint64_t fence_sseq = 0;  // the topic's last record as this node knows it
  std::uint64_t fence_seq = 0;   // and its last message's sequence number
  std::uint64_t pub_req = 0;     // the record or fence read in flight
  std::uint64_t sending_first = 0;
  std::vector<std::unique_ptr<publish_job>> sending;  // in the record in flight
  ring_queue<std::unique_ptr<publish_job>> waiting;   // for the next record
};

struct pubsub_hub::walk {
  std::string topic;
  bool resume = false;
  std::unique_ptr<subscribe_job> job;  // resume: the subscribe it answers
  std::uint64_t want_from = 0;         // resume: messages since+1 ..
  std::uint64_t below = 0;             // .. up to (not with) the first one the history held
  std::uint64_t stop_sseq = 0;         // repair: the last record delivered; stop there
  std::uint64_t next_sseq = 0;         // the record to read next
  unsigned misses = 0;                 // "not found" answers for next_sseq so far
  std::vector<std::pair<cluster_record, link_event_ptr>> got;  // newest first
};

struct pubsub_hub::cluster_request {
  request_kind kind = request_kind::publish;
  std::string topic;
  std::uint64_t deadline = 0;  // tick
  std::unique_ptr<walk> w;     // kind walk
};

// ---- Shared by pubsub_cluster*.cpp ------------------------------------------------------

inline constexpr std::size_t max_record_messages = 1000;
inline constexpr const char* down_text =
    "the cluster is unavailable: this node has no link to NATS JetStream; retry later";

inline std::optional<std::uint64_t> header_number(natsMsg* m, const char* name) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, name, &v) != NATS_OK || !v) return std::nullopt;
  return cluster::parse_decimal(v);
}

// What a publish waiting here for JetStream counts against pubsub.queue_bytes.
inline std::uint64_t backlog_weight(const publish_job& job) noexcept { return 64 + job.data.size() + job.topic.size(); }

inline std::string_view body_of(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

// False for what is not a Shoal record (a message put on the subject by other means).
inline bool read_record(natsMsg* m, cluster_record& r) {
  const auto sseq = header_number(m, "Nats-Sequence");
  const auto first = header_number(m, cluster::header_seq);
  if (!sseq || !first || *first == 0) return false;
  r.sseq = *sseq;
  r.first = *first;
  r.count = header_number(m, cluster::header_count).value_or(1);
  r.prev = header_number(m, cluster::header_prev).value_or(0);
  return r.count >= 1 && r.count <= max_record_messages && r.first <= UINT64_MAX - r.count;
}

}  // namespace shoal::gateway
