// Unit tests of out_queue, a connection's output: order of local and shared ranges, merging of
// adjacent local bytes, partial writes, growth and compaction of the entry array, and the local
// references it takes and gives back (a leaked or doubly released reference would corrupt the
// shard's frame pool).
#include "gateway/out_queue.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace shoal::gateway {
namespace {

// A broadcast frame of `text`, wrapped in a shard-local handle held by the test.
local_frame* make_frame(local_frame_pool& pool, const std::string& text) {
  frame_ref f = shared_frame::create(static_cast<std::uint32_t>(text.size()));
  std::memcpy(f->data(), text.data(), text.size());
  return pool.adopt(std::move(f));
}

void append_text(out_queue& q, const std::string& text) {
  std::memcpy(q.append_local(text.size()), text.data(), text.size());
}

// What a gather write would send, in order.
std::string pending(const out_queue& q) {
  std::vector<iovec> iov(4096);
  const std::size_t n = q.gather(iov);
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

TEST(OutQueue, KeepsLocalAndSharedRangesInOrder) {
  local_frame_pool pool;
  local_frame* a = make_frame(pool, "AAAA");
  out_queue q;
  append_text(q, "hello ");
  q.append_shared(a);
  append_text(q, " world");
  EXPECT_EQ(pending(q), "hello AAAA world");
  EXPECT_EQ(q.buffered(), 16u);
  EXPECT_EQ(a->refs, 2u);  // ours and the queue's
  q.consume(16);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(a->refs, 1u);  // the queue gave its reference back once written
  a->release();
}

TEST(OutQueue, AdjacentLocalBytesShareOneIovec) {
  out_queue q;
  for (int i = 0; i < 10; ++i) append_text(q, "x");
  std::vector<iovec> iov(16);
  EXPECT_EQ(q.gather(iov), 1u);
  EXPECT_EQ(iov[0].iov_len, 10u);
}

TEST(OutQueue, PartialWritesResumeMidRange) {
  local_frame_pool pool;
  local_frame* a = make_frame(pool, "0123456789");
  out_queue q;
  q.append_shared(a);
  append_text(q, "abc");
  q.consume(3);
  EXPECT_EQ(pending(q), "3456789abc");
  EXPECT_EQ(a->refs, 2u);  // still partly unwritten
  q.consume(8);
  EXPECT_EQ(pending(q), "bc");
  EXPECT_EQ(a->refs, 1u);
  q.consume(2);
  EXPECT_TRUE(q.empty());
  a->release();
}

TEST(OutQueue, GrowsAndCompactsWithoutLosingOrderOrReferences) {
  local_frame_pool pool;
  std::vector<local_frame*> frames;
  for (int i = 0; i < 10; ++i) frames.push_back(make_frame(pool, std::string(1, char('a' + i))));
  std::mt19937 rng(7);
  out_queue q;
  std::string expected;
  // A queue that never quite empties: appends and partial consumes interleaved, so the entry
  // array both grows and slides its pending entries to the front.
  for (int round = 0; round < 5000; ++round) {
    const int adds = static_cast<int>(rng() % 8);
    for (int k = 0; k < adds; ++k) {
      const std::size_t i = rng() % frames.size();
      q.append_shared(frames[i]);
      expected += char('a' + i);
    }
    const std::size_t take = std::min<std::size_t>(expected.size() - (expected.empty() ? 0 : 1),
                                                   rng() % 8);
    q.consume(take);
    expected.erase(0, take);
    ASSERT_EQ(pending(q).substr(0, 64), expected.substr(0, 64)) << "round " << round;
    ASSERT_EQ(q.buffered(), expected.size());
  }
  EXPECT_EQ(pending(q), expected);
  q.clear();  // releases what was still queued
  for (local_frame* f : frames) {
    EXPECT_EQ(f->refs, 1u);
    f->release();
  }
}

TEST(OutQueue, ClearGivesBackEveryReference) {
  local_frame_pool pool;
  local_frame* a = make_frame(pool, "abc");
  out_queue q;
  for (int i = 0; i < 100; ++i) q.append_shared(a);
  EXPECT_EQ(a->refs, 101u);
  q.clear();
  EXPECT_EQ(a->refs, 1u);
  EXPECT_TRUE(q.empty());
  a->release();
}

}  // namespace
}  // namespace shoal::gateway
