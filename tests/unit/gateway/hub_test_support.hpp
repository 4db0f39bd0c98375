// A socket-free rig for pubsub_hub tests: N shards, each a hub with its own shard_context and
// recording clients (hub_client), sharing one shard_mesh. A shard's hub, context and clients are
// touched only by the thread that plays that shard; settle() plays every shard in turn on one
// thread, which the SPSC mesh allows. Recorders copy what they get, so they hold no frames.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/conn_pools.hpp"
#include "gateway/pubsub_hub.hpp"
#include "gateway/shard_context.hpp"

namespace shoal::gateway::hub_test {

// One message as a subscriber (or a replay) saw it, read back from the encoded frame.
struct seen_message {
  std::string topic;
  std::uint64_t seq = 0;
  std::string data;
  bool operator==(const seen_message&) const = default;
};

// Decodes {"op":"msg","topic":"T","seq":N,"data":D} from the frame's payload and checks that
// it agrees with the frame's own metadata.
inline seen_message read_frame(const shared_frame& f) {
  const auto payload = f.payload();
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  constexpr std::string_view head = R"({"op":"msg","topic":")", seq_key = R"(","seq":)",
                             data_key = R"(,"data":)";
  seen_message m;
  const std::size_t seq_at = text.find(seq_key), data_at = text.find(data_key);
  EXPECT_TRUE(text.starts_with(head) && seq_at != text.npos && data_at != text.npos && text.ends_with('}'))
      << text;
  if (seq_at == text.npos || data_at == text.npos) return m;
  m.topic = std::string(text.substr(head.size(), seq_at - head.size()));
  const char* digits = text.data() + seq_at + seq_key.size();
  std::from_chars(digits, text.data() + data_at, m.seq);
  m.data = std::string(text.substr(data_at + data_key.size(), text.size() - data_at - data_key.size() - 1));
  EXPECT_EQ(m.seq, f.seq());
  EXPECT_EQ(m.topic, f.topic());
  return m;
}

struct publish_record {
  std::uint64_t ticket = 0;
  std::string topic;
  std::uint64_t seq = 0;
  bool refused = false;
};

struct subscribe_record {
  std::uint64_t ticket = 0;
  std::uint64_t seq = 0;
  bool too_old = false;
  bool refused = false;
  std::uint64_t oldest = 0;
  std::vector<std::uint64_t> replay;  // seqs of the replayed frames, in order
  std::uint64_t replay_bytes = 0;     // their shared_frame::bytes()
};

// A client that records everything the hub tells it. Subscription state is handled as
// pubsub_session does: a subscribe answer sets from_seq and makes the subscription active.
class recorder final : public hub_client {
 public:
  recorder(shard_context& ctx, std::uint64_t token) : ctx_(ctx), token_(token) {}

  subscription& subscribe(const std::string& topic, std::optional<std::uint64_t> since = {}) {
    auto& sub = *subs_.emplace_back(std::make_unique<subscription>());
    sub.client = this;
    const std::uint64_t ticket = next_ticket_++;
    waiting_[ticket] = &sub;  // first: a topic homed here is answered before subscribe returns
    ctx_.hub->subscribe(ctx_, sub, subscribe_args{token_, ticket, topic, {}, since});
    EXPECT_EQ(sub.topic(), topic);
    return sub;
  }
  void unsubscribe(subscription& sub) {
    ctx_.hub->unsubscribe(ctx_, sub);
    for (auto& [ticket, s] : waiting_)
      if (s == &sub) s = nullptr;  // its answer is still owed
    std::erase_if(subs_, [&](const auto& p) { return p.get() == &sub; });
  }
  admission publish(std::string_view topic, std::string_view data, bool refuse_when_full = false) {
    const admission a = ctx_.hub->publish(
        ctx_, publish_args{token_, next_ticket_++, topic, data, {}, false}, refuse_when_full);
    if (a == admission::hold) held = true;
    return a;
  }

  void deliver(shard_context&, subscription& sub, local_frame* frame) override {
    EXPECT_EQ(sub.state, sub_state::active);
    seen_message m = read_frame(*frame->frame);
    EXPECT_EQ(m.topic, sub.topic());
    EXPECT_GT(m.seq, sub.from_seq);
    got.push_back(std::move(m));
  }
  void missed(shard_context&, subscription&, std::uint64_t from, std::uint64_t to) override {
    gaps.emplace_back(from, to);
  }
  void published(shard_context&, std::unique_ptr<publish_job> job) override {
    acks.push_back({job->ticket, job->topic, job->seq, job->refused != nullptr});
  }
  void subscribed(shard_context&, std::unique_ptr<subscribe_job> job) override {
    subscribe_record r{job->ticket, job->seq, job->too_old, job->refused, job->oldest, {}, 0};
    for (const frame_ref& f : job->replay) {
      r.replay.push_back(read_frame(*f).seq);
      r.replay_bytes += f->bytes();
    }
    answers.push_back(std::move(r));
    const auto it = waiting_.find(job->ticket);
    ASSERT_NE(it, waiting_.end()) << "an answer for a ticket never asked: " << job->ticket;
    if (it->second && !job->refused) {
      it->second->from_seq = job->seq;
      it->second->state = sub_state::active;
    }
    waiting_.erase(it);
  }
  void resume_input(shard_context&) override {
    ++resumes;
    held = false;
  }

  // Sequence numbers of the deliveries of `topic`, in arrival order.
  std::vector<std::uint64_t> seqs(std::string_view topic) const {
    std::vector<std::uint64_t> out;
    for (const seen_message& m : got)
      if (m.topic == topic) out.push_back(m.seq);
    return out;
  }

  std::vector<seen_message> got;
  std::vector<publish_record> acks;
  std::vector<subscribe_record> answers;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
  int resumes = 0;
  bool held = false;

 private:
  shard_context& ctx_;
  std::uint64_t token_;
  std::uint64_t next_ticket_ = 1;
  std::map<std::uint64_t, subscription*> waiting_;  // ticket -> subscription (null: left)
  std::vector<std::unique_ptr<subscription>> subs_;
};

// One shard: what shard.cpp builds around its hub, minus the sockets.
struct shard_rig {
  shard_rig(unsigned self, unsigned shards, const config& cfg, shard_mesh& mesh, server_state& server)
      : hub(shard_id(static_cast<std::uint16_t>(self)), shards, cfg, mesh),
        ctx{settings, metrics, server, timers, read_buffer, dirty, read_again, closed, pools, 0, &hub,
            {}, nullptr, {}, {}, {}, nullptr, nullptr, {}, nullptr, {}, 0} {
    hub.set_lookup(&shard_rig::lookup, this);
  }
  shard_rig(const shard_rig&) = delete;
  shard_rig& operator=(const shard_rig&) = delete;

  recorder& add_client() {
    return *clients.emplace_back(std::make_unique<recorder>(ctx, clients.size() + 1));
  }
  static hub_client* lookup(void* self, std::uint64_t token) noexcept {
    auto& clients = static_cast<shard_rig*>(self)->clients;
    return token >= 1 && token <= clients.size() ? clients[token - 1].get() : nullptr;
  }

  connection_settings settings;
  shard_metrics metrics;
  timer_wheel timers;
  std::vector<std::uint8_t> read_buffer = std::vector<std::uint8_t>(4096);
  std::vector<connection*> dirty, read_again, closed;
  conn_pools pools;
  pubsub_hub hub;
  shard_context ctx;
  std::vector<std::unique_ptr<recorder>> clients;
};

// N shards on one mesh. The config is copied and outlives the hubs that refer to it.
class hub_cluster {
 public:
  hub_cluster(unsigned shards, std::size_t ring_capacity, const config& cfg)
      : cfg_(cfg), mesh_(shards, ring_capacity) {
    EXPECT_TRUE(mesh_.ok());
    for (unsigned s = 0; s < shards; ++s)
      rigs_.push_back(std::make_unique<shard_rig>(s, shards, cfg_, mesh_, server_));
  }

  unsigned size() const noexcept { return static_cast<unsigned>(rigs_.size()); }
  shard_rig& operator[](unsigned s) { return *rigs_[s]; }
  pubsub_hub& hub(unsigned s) { return rigs_[s]->hub; }
  shard_mesh& mesh() noexcept { return mesh_; }

  // A topic name whose home is `home` (the hub's own hash: string_hash modulo shards).
  std::string topic_homed_on(unsigned home, std::string_view prefix) const {
    for (unsigned i = 0;; ++i) {
      std::string name = std::string(prefix) + "." + std::to_string(i);
      if (string_hash{}(name) % size() == home) return name;
    }
  }

  // Polls every shard but the paused ones, round robin, until each would go to sleep (its
  // prepare_to_sleep() says nothing is left that it could do). False if still busy after
  // max_rounds: then something keeps moving forever.
  bool settle(const std::vector<unsigned>& paused = {}, int max_rounds = 100'000) {
    auto is_paused = [&](unsigned s) { return std::find(paused.begin(), paused.end(), s) != paused.end(); };
    for (int round = 0; round < max_rounds; ++round) {
      for (unsigned s = 0; s < size(); ++s)
        if (!is_paused(s)) rigs_[s]->hub.poll(rigs_[s]->ctx);
      bool idle = true;
      for (unsigned s = 0; s < size(); ++s) {
        if (is_paused(s)) continue;
        idle = rigs_[s]->hub.prepare_to_sleep() && idle;
        mesh_.woke(shard_id(static_cast<std::uint16_t>(s)));
        mesh_.drain_wake_fd(shard_id(static_cast<std::uint16_t>(s)));
      }
      if (idle) return true;
    }
    return false;
  }

 private:
  config cfg_;
  server_state server_;
  shard_mesh mesh_;
  std::vector<std::unique_ptr<shard_rig>> rigs_;
};

}  // namespace shoal::gateway::hub_test
