// Tests for the intrusive MPSC queue that carries the cluster link's events to a shard: FIFO per
// producer, nothing lost or duplicated with several producers racing one consumer (run under
// ThreadSanitizer in CI), and empty() false while anything is queued.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gateway/mpsc_queue.hpp"

namespace shoal::gateway {
namespace {

struct node {
  std::atomic<node*> next{nullptr};
  unsigned producer = 0;
  unsigned value = 0;
};

TEST(MpscQueue, FifoOnOneThread) {
  mpsc_queue<node> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
  node n[3];
  for (unsigned i = 0; i < 3; ++i) {
    n[i].value = i;
    q.push(&n[i]);
    EXPECT_FALSE(q.empty());
  }
  for (unsigned i = 0; i < 3; ++i) {
    node* p = q.pop();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->value, i);
  }
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
  q.push(&n[1]);  // reusable after running dry
  EXPECT_EQ(q.pop(), &n[1]);
  EXPECT_TRUE(q.empty());
}

TEST(MpscQueue, ManyProducersOneConsumerLoseNothing) {
  constexpr unsigned producers = 4;
  constexpr unsigned per_producer = 20000;
  mpsc_queue<node> q;
  std::vector<std::unique_ptr<node[]>> nodes;
  for (unsigned p = 0; p < producers; ++p) nodes.push_back(std::make_unique<node[]>(per_producer));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load()) std::this_thread::yield();
      for (unsigned i = 0; i < per_producer; ++i) {
        nodes[p][i].producer = p;
        nodes[p][i].value = i;
        q.push(&nodes[p][i]);
      }
    });
  }
  go.store(true);
  std::vector<unsigned> next(producers, 0);
  unsigned received = 0;
  while (received < producers * per_producer) {
    node* n = q.pop();
    if (!n) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_LT(n->producer, producers);
    ASSERT_EQ(n->value, next[n->producer]) << "out of order from producer " << n->producer;
    ++next[n->producer];
    ++received;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace shoal::gateway
