// What shards send each other through the mailbox mesh, one type per kind: requests to a
// topic's home shard (publish, subscribe, unsubscribe) and what comes back (their answers, and
// deliveries of broadcast frames). A shard_message is a std::variant of them; each owns what it
// carries (a job through unique_ptr, a frame through frame_ref), so a message that is dropped or
// left in a queue at shutdown frees itself, and the receiver takes ownership by moving it out.
// weight() is what the message costs the byte bounds of the cross-shard queues.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gateway/pubsub_protocol.hpp"
#include "gateway/shard_id.hpp"
#include "gateway/shared_frame.hpp"

namespace shoal::gateway {

class hub_client;

// A publish on its way to the topic's home shard and back with its result.
struct publish_job {
  std::string topic;
  std::string data;  // raw JSON value
  std::string id;    // raw JSON of the client's correlation id; empty if none
  std::uint64_t conn_token = 0;
  std::uint64_t ticket = 0;  // the client's request number: answers go out in this order
  shard_id origin{};
  bool from_http = false;
  std::uint64_t seq = 0;             // result: the sequence number assigned
  const char* refused = nullptr;     // result: why the publish was refused (static text), or null
  protocol_error_code refused_code = protocol_error_code::internal;
};

struct subscribe_job {
  std::string topic;
  std::string id;
  std::uint64_t conn_token = 0;
  std::uint64_t ticket = 0;  // the client's request number (see publish_job)
  shard_id origin{};
  std::optional<std::uint64_t> since;  // resume: wants every message with seq > since
  bool compressed = false;  // the subscriber takes the broadcast's compressed variant
  // Result, filled by the home shard.
  std::uint64_t seq = 0;  // the last sequence number assigned on the topic (0: none yet)
  std::vector<frame_ref> replay;  // frames since+1..seq (resume)
  bool too_old = false;
  std::uint64_t oldest = 0;  // the oldest sequence number the history holds
  bool refused = false;      // not subscribed: see refused_code and refused_reason
  protocol_error_code refused_code = protocol_error_code::too_many_topics;
  const char* refused_reason = "the server holds pubsub.max_topics topics";  // static text
};

// Messages of a topic that no subscriber will get (cluster: the stream no longer held them when
// this node looked for them), announced before the next delivery of the topic.
struct gap_job {
  std::string topic;
  std::uint64_t from = 0;  // inclusive
  std::uint64_t to = 0;    // inclusive
};

struct unsubscribe_job {
  std::string topic;
  shard_id origin{};
  bool compressed = false;  // as the subscribe_job said
};

// Requests, origin → home (the request lane).
struct publish_request { std::unique_ptr<publish_job> job; };
struct subscribe_request { std::unique_ptr<subscribe_job> job; };
struct unsubscribe_request { std::unique_ptr<unsubscribe_job> job; };
// Answers and deliveries, home → origin or subscriber shard (the reply lane).
struct publish_answer { std::unique_ptr<publish_job> job; };
struct subscribe_answer { std::unique_ptr<subscribe_job> job; };
struct delivery { frame_ref frame; };
struct gap_notice { std::unique_ptr<gap_job> job; };

using shard_message = std::variant<publish_request, subscribe_request, unsubscribe_request,
                                   publish_answer, subscribe_answer, delivery, gap_notice>;

// The mailbox lanes. The home shard always drains the reply lane (it only ever hands work to
// local queues, so it never waits), and stops taking requests while its own outgoing queues
// are over their byte bound: that is how pressure reaches publishers without a deadlock.
enum class lane : std::uint8_t { request = 0, reply = 1 };
constexpr unsigned lane_count = 2;

// Bytes a message holds while queued (payloads, names, frames), for the byte bounds.
inline std::size_t weight(const shard_message& m) noexcept {
  constexpr std::size_t overhead = 64;  // the job object and its queue slot, roughly
  struct visitor {
    std::size_t operator()(const publish_request& r) const noexcept {
      return overhead + r.job->topic.size() + r.job->data.size() + r.job->id.size();
    }
    std::size_t operator()(const subscribe_request& r) const noexcept {
      return overhead + r.job->topic.size() + r.job->id.size();
    }
    std::size_t operator()(const unsubscribe_request& r) const noexcept {
      return overhead + r.job->topic.size();
    }
    std::size_t operator()(const publish_answer& a) const noexcept {
      return overhead + a.job->topic.size() + a.job->data.size() + a.job->id.size();
    }
    std::size_t operator()(const subscribe_answer& a) const noexcept {
      std::size_t n = overhead + a.job->topic.size() + a.job->id.size();
      for (const frame_ref& f : a.job->replay) n += f->bytes();
      return n;
    }
    std::size_t operator()(const delivery& d) const noexcept { return overhead + d.frame->bytes(); }
    std::size_t operator()(const gap_notice& g) const noexcept { return overhead + g.job->topic.size(); }
  };
  return std::visit(visitor{}, m);
}

inline lane lane_of(const shard_message& m) noexcept {
  return m.index() <= 2 ? lane::request : lane::reply;
}

}  // namespace shoal::gateway
