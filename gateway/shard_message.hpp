// What shards send each other through the mailbox mesh: publishes to a topic's home shard, the
// home's answers, subscription changes, and deliveries of broadcast frames. A message is a kind
// and one owning pointer (16 bytes, trivially movable); the receiver takes ownership. Variable
// parts (topic names, payloads) live in a job allocated by the sender; deliveries carry only a
// shared_frame with one atomic reference for the receiving shard.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/pubsub_protocol.hpp"
#include "gateway/shared_frame.hpp"

namespace shoal::gateway {

enum class message_kind : std::uint8_t {
  publish,          // publish_job, origin → home
  publish_done,     // publish_job with its result, home → origin
  subscribe,        // subscribe_job, origin → home
  subscribe_done,   // subscribe_job with its result, home → origin
  unsubscribe,      // unsubscribe_job, origin → home
  deliver,          // shared_frame*, home → every shard with subscribers
};

struct publish_job {
  std::string topic;
  std::string data;  // raw JSON value
  std::string id;    // raw JSON of the client's correlation id; empty if none
  std::uint64_t conn_token = 0;
  std::uint16_t origin = 0;
  bool from_http = false;
  std::uint64_t seq = 0;  // result: the sequence number assigned
  const char* refused = nullptr;  // result: why the publish was refused (static text), or null
  protocol_error_code refused_code = protocol_error_code::internal;
};

struct subscribe_job {
  std::string topic;
  std::string id;
  std::uint64_t conn_token = 0;
  std::uint64_t sub_id = 0;  // the subscription this answers (a topic may be re-subscribed)
  std::uint16_t origin = 0;
  std::optional<std::uint64_t> since;  // resume: wants every message with seq > since
  bool compressed = false;  // the subscriber takes the broadcast's compressed variant
  // Result, filled by the home shard.
  std::uint64_t seq = 0;  // the last sequence number assigned on the topic (0: none yet)
  std::vector<shared_frame*> replay;  // retained frames since+1..seq (resume)
  bool too_old = false;
  std::uint64_t oldest = 0;  // the oldest sequence number the history holds
  bool refused = false;      // the home holds pubsub.max_topics and this topic is new
};

struct unsubscribe_job {
  std::string topic;
  std::uint16_t origin = 0;
  bool compressed = false;  // as the subscribe_job said
};

struct shard_message {
  message_kind kind = message_kind::deliver;
  void* ptr = nullptr;

  static shard_message of(publish_job* j, bool done) {
    return {done ? message_kind::publish_done : message_kind::publish, j};
  }
  static shard_message of(subscribe_job* j, bool done) {
    return {done ? message_kind::subscribe_done : message_kind::subscribe, j};
  }
  static shard_message of(unsubscribe_job* j) { return {message_kind::unsubscribe, j}; }
  static shard_message of(shared_frame* f) { return {message_kind::deliver, f}; }

  // Frees what the message owns (a message that could not be delivered).
  void dispose() noexcept {
    switch (kind) {
      case message_kind::publish:
      case message_kind::publish_done:
        delete static_cast<publish_job*>(ptr);
        break;
      case message_kind::subscribe:
      case message_kind::subscribe_done: {
        auto* job = static_cast<subscribe_job*>(ptr);
        for (shared_frame* f : job->replay) f->release();
        delete job;
        break;
      }
      case message_kind::unsubscribe:
        delete static_cast<unsubscribe_job*>(ptr);
        break;
      case message_kind::deliver:
        static_cast<shared_frame*>(ptr)->release();
        break;
    }
    ptr = nullptr;
  }
};

}  // namespace shoal::gateway
