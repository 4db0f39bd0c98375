// Publishing to JetStream, the home shard's half of pubsub_cluster.cpp (read its top comment):
// one record at a time per topic, fenced on the topic's last record, each publish acknowledged
// once JetStream confirmed it. Runs on the topic's home shard; the confirmations arrive in
// cluster_on_reply (pubsub_cluster.cpp).
#include <nats/nats.h>

#include <cinttypes>
#include <cstdio>

#include "gateway/cluster_codec.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/pubsub_cluster.hpp"
#include "gateway/pubsub_hub.hpp"

namespace shoal::gateway {

namespace {

constexpr std::size_t record_header_room = 512;  // NATS headers of a record, generously
constexpr const char* too_big_text = "the message is larger than the NATS servers' max_payload";

}  // namespace

void pubsub_hub::cluster_refuse(shard_context& ctx, std::unique_ptr<publish_job> job, protocol_error_code code,
                                const char* why) {
  job->refused = why;
  job->refused_code = code;
  std::string().swap(job->data);
  shard_metrics::add(ctx.metrics.cluster_publish_failures);
  const shard_id origin = job->origin;
  send(ctx, origin, publish_answer{std::move(job)});
}

void pubsub_hub::cluster_publish(shard_context& ctx, const std::string& name, home_topic& t,
                                 std::unique_ptr<publish_job> job) {
  if (!link_->ready()) return cluster_refuse(ctx, std::move(job), protocol_error_code::unavailable, down_text);
  const std::size_t payload = link_->max_payload();
  if (payload < record_header_room || cluster::entry_size(job->data) > payload - record_header_room)
    return cluster_refuse(ctx, std::move(job), protocol_error_code::message_too_big, too_big_text);
  if (!t.cl) t.cl = std::make_unique<cluster_topic>();
  publish_backlog_ += backlog_weight(*job);
  t.cl->waiting.push_back(std::move(job));
  cluster_pump(ctx, name, t);
}

void pubsub_hub::cluster_fail_sending(shard_context& ctx, home_topic& t, const char* why) {
  cluster_topic& c = *t.cl;
  for (auto& job : c.sending) {
    publish_backlog_ -= std::min<std::uint64_t>(publish_backlog_, backlog_weight(*job));
    cluster_refuse(ctx, std::move(job), protocol_error_code::unavailable, why);
  }
  c.sending.clear();
}

void pubsub_hub::cluster_fail_waiting(shard_context& ctx, home_topic& t, const char* why) {
  cluster_topic& c = *t.cl;
  while (!c.waiting.empty()) {
    std::unique_ptr<publish_job> job = std::move(c.waiting.front());
    c.waiting.pop_front();
    publish_backlog_ -= std::min<std::uint64_t>(publish_backlog_, backlog_weight(*job));
    cluster_refuse(ctx, std::move(job), protocol_error_code::unavailable, why);
  }
}

void pubsub_hub::cluster_pump(shard_context& ctx, const std::string& name, home_topic& t) {
  cluster_topic& c = *t.cl;
  if (c.pub_req != 0 || c.waiting.empty()) return;
  if (!link_->ready()) return cluster_fail_waiting(ctx, t, down_text);
  const unsigned me = index_of(self_);
  if (!c.fence_known) {
    // Where the topic stands: its last record (or none).
    std::string body = R"({"last_by_subj":")" + link_->stored_subject(name) + R"("})";
    auto r = std::make_unique<cluster_request>();
    r->kind = request_kind::fence;
    r->topic = name;
    const std::uint64_t id = track(std::move(r));
    if (!link_->direct_get(me, id, body)) {
      requests_.erase(id);
      return cluster_fail_waiting(ctx, t, down_text);
    }
    shard_metrics::add(ctx.metrics.cluster_fetches);
    c.pub_req = id;
    return;
  }
  // One record: everything waiting, up to the NATS payload limit and max_record_messages.
  const std::size_t limit = link_->max_payload() - record_header_room;
  std::size_t size = 0;
  while (!c.waiting.empty() && c.sending.size() < max_record_messages) {
    const std::size_t add = cluster::entry_size(c.waiting.front()->data);
    if (!c.sending.empty() && size + add > limit) break;
    size += add;
    c.sending.push_back(std::move(c.waiting.front()));
    c.waiting.pop_front();
  }
  std::string& body = record_body_;
  body.clear();
  if (c.sending.size() == 1) {
    body = c.sending.front()->data;
  } else {
    body.reserve(size);
    for (const auto& job : c.sending) cluster::append_entry(body, job->data);
  }
  c.sending_first = c.fence_seq + 1;
  auto r = std::make_unique<cluster_request>();
  r->kind = request_kind::publish;
  r->topic = name;
  const std::uint64_t id = track(std::move(r));
  const std::string subject = link_->stored_subject(name);
  const std::string reply = link_->reply_subject(me, id);
  char first[24], count[24], prev[24], msg_id[64];
  std::snprintf(first, sizeof first, "%" PRIu64, c.sending_first);
  std::snprintf(count, sizeof count, "%zu", c.sending.size());
  std::snprintf(prev, sizeof prev, "%" PRIu64, c.fence_sseq);
  // Deduplication by JetStream, should the client ever send it twice.
  std::snprintf(msg_id, sizeof msg_id, "%s-%u-%" PRIu64, link_->node_uid().c_str(), me, id);
  natsMsg* m = nullptr;
  natsStatus st = natsMsg_Create(&m, subject.c_str(), reply.c_str(), body.data(), static_cast<int>(body.size()));
  if (st == NATS_OK) st = natsMsgHeader_Set(m, cluster::header_seq, first);
  if (st == NATS_OK && c.sending.size() > 1) st = natsMsgHeader_Set(m, cluster::header_count, count);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, cluster::header_prev, prev);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence", prev);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
  if (st == NATS_OK) st = natsMsgHeader_Set(m, cluster::header_node, link_->node_name().c_str());
  bool sent = false;
  if (st == NATS_OK) sent = link_->publish(m);  // takes m
  else if (m) natsMsg_Destroy(m);
  if (!sent) {
    requests_.erase(id);
    cluster_fail_sending(ctx, t, down_text);
    return cluster_fail_waiting(ctx, t, down_text);
  }
  c.pub_req = id;
  shard_metrics::add(ctx.metrics.cluster_records);
}

}  // namespace shoal::gateway
