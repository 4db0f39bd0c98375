// The per-connection state that only a busy connection needs, and the shard's pools of it.
// A connection in the middle of something (an HTTP request head, a frame split across reads, a
// fragmented message, an HTTP publish body) holds an input_state; a connection with bytes
// queued holds an output_state. An idle connection holds neither, which keeps it near 100 bytes;
// busy connections take them from the shard's pools and give them back, so a steady stream of
// messages allocates nothing. The pools keep a small reserve and free the rest once a second.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/frame_decoder.hpp"
#include "core/http_request.hpp"
#include "core/utf8.hpp"
#include "gateway/hub_client.hpp"
#include "gateway/out_queue.hpp"

namespace shoal::gateway {

struct connection_settings;
class connection;

// An HTTP publish (POST /publish/<topic>): the body being read, then the wait for the home
// shard's answer, which comes to it as the hub's client (and goes on to its connection).
struct http_publish final : hub_client {
  explicit http_publish(connection& c) noexcept : conn(c) {}
  void deliver(shard_context&, subscription&, local_frame*) override {}
  void missed(shard_context&, subscription&, std::uint64_t, std::uint64_t) override {}
  void published(shard_context& ctx, std::unique_ptr<publish_job> job) override;
  void subscribed(shard_context&, std::unique_ptr<subscribe_job>) override {}
  void resume_input(shard_context&) override {}

  connection& conn;
  std::string topic;
  std::string content_type;
  std::string body;
  std::size_t remaining = 0;
  bool keep_alive = true;
  bool awaiting = false;
};

struct input_state {
  input_state(const core::http_limits& http_limits, const core::decoder_options& decoder_options)
      : http(http_limits), decoder(decoder_options) {}

  // True when nothing is in progress, so the state can go back to the pool as a fresh one:
  // no request head bytes, the decoder at a frame boundary, no message or publish under way.
  bool reusable() const noexcept {
    return http.buffered() == 0 && !http.failed() && decoder.idle() && !decoder.failed() &&
           message.empty() && !publish && pending.empty();
  }

  core::http_request_parser http;
  core::frame_decoder decoder;
  std::vector<std::uint8_t> message;  // a fragmented message being assembled
  core::opcode message_op = core::opcode::text;
  core::utf8_validator inflated_text;  // a compressed text message's output, as it is inflated
  std::unique_ptr<http_publish> publish;
  std::string pending;  // bytes of a pipelined request that arrived while a publish awaits
};

struct output_state {
  out_queue queue;
  std::size_t reported = 0;  // queue.buffered() as last added to the shard's gauge
};

// A LIFO free list of T, so the most recently used (cache-warm) object is reused first.
template <class T>
class state_pool {
 public:
  std::unique_ptr<T> take() {
    if (free_.empty()) return nullptr;
    std::unique_ptr<T> p = std::move(free_.back());
    free_.pop_back();
    return p;
  }
  void give(std::unique_ptr<T> p) { free_.push_back(std::move(p)); }
  // Frees all but `keep` pooled objects (called once a second: a burst's worth goes back).
  void trim(std::size_t keep) {
    if (free_.size() > keep) free_.resize(keep);
    if (free_.capacity() > 2 * keep + 16 && free_.size() <= keep) free_.shrink_to_fit();
  }
  std::size_t size() const noexcept { return free_.size(); }

 private:
  std::vector<std::unique_ptr<T>> free_;
};

struct conn_pools {
  state_pool<input_state> inputs;
  state_pool<output_state> outputs;
  static constexpr std::size_t reserve = 64;  // kept across trims
};

}  // namespace shoal::gateway
