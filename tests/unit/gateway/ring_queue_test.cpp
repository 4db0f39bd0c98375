// Unit tests of ring_queue: FIFO order across wrap-around and growth, elements destroyed exactly
// once (counted), and release(): an empty queue gives its array to the thread's spares, the next
// queue takes it from there, the spares are bounded, and a non-empty queue keeps its array.
#include "gateway/ring_queue.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace shoal::gateway {
namespace {

// Counts live instances, so a leak or a double destruction shows.
struct counted {
  static inline int live = 0;
  std::unique_ptr<int> value;
  explicit counted(int v) : value(std::make_unique<int>(v)) { ++live; }
  counted(counted&& o) noexcept : value(std::move(o.value)) { ++live; }
  counted& operator=(counted&&) = delete;
  ~counted() { --live; }
};

TEST(RingQueue, KeepsOrderThroughWrapAndGrowth) {
  std::mt19937 rng(7);
  {
    ring_queue<counted, 2> q;
    std::deque<int> model;
    int next = 0;
    for (int step = 0; step < 20000; ++step) {
      if (model.empty() || rng() % 3 != 0) {
        q.push_back(counted(next));
        model.push_back(next++);
      } else {
        ASSERT_EQ(*q.front().value, model.front());
        q.pop_front();
        model.pop_front();
      }
      ASSERT_EQ(q.size(), model.size());
      if (!model.empty()) {
        const std::size_t i = rng() % model.size();
        ASSERT_EQ(*q[i].value, model[i]);
      }
    }
    EXPECT_EQ(counted::live, static_cast<int>(model.size()));
  }
  EXPECT_EQ(counted::live, 0);  // the destructor destroyed what was left
}

TEST(RingQueue, ReleaseLendsTheArrayToTheNextQueueOfTheThread) {
  std::thread([] {  // a thread of its own: its spares start empty
    using queue = ring_queue<std::string, 2>;
    ASSERT_EQ(queue::spare_count(), 0u);
    queue a;
    a.push_back("first");
    a.release();  // not empty: keeps its array
    EXPECT_EQ(queue::spare_count(), 0u);
    EXPECT_EQ(a.front(), "first");
    a.pop_front();
    a.release();
    EXPECT_EQ(queue::spare_count(), 1u);
    EXPECT_TRUE(a.empty());

    queue b;
    b.push_back("taken from the spares");
    EXPECT_EQ(queue::spare_count(), 0u);
    b.push_back("second");
    b.push_back("grown: the 2-slot array goes back to the spares");
    EXPECT_EQ(queue::spare_count(), 1u);
    EXPECT_EQ(b.size(), 3u);
    EXPECT_EQ(b.front(), "taken from the spares");
    b.clear();
    b.release();  // a grown array is freed, not kept
    EXPECT_EQ(queue::spare_count(), 1u);

    a.push_back("reused");  // a released queue works as new
    EXPECT_EQ(a.front(), "reused");
  }).join();
}

TEST(RingQueue, SparesAreBounded) {
  std::thread([] {
    using queue = ring_queue<int, 2>;
    std::vector<queue> queues(queue::max_spares + 10);
    for (queue& q : queues) q.push_back(1);
    for (queue& q : queues) {
      q.pop_front();
      q.release();
    }
    EXPECT_EQ(queue::spare_count(), queue::max_spares);
  }).join();
}

}  // namespace
}  // namespace shoal::gateway
