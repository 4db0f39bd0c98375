// Tests for token_bucket: the burst then refusal, exact refill over many small steps (no lost
// remainder), the oversized cost allowed once from a full bucket, unlimited buckets, a clock
// that steps back, clock values near 2^64, and reconfiguration. Single-threaded.
#include "core/token_bucket.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace shoal::core {
namespace {

TEST(TokenBucket, BurstThenRefuse) {
  token_bucket b(10, 5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.take(1000)) << i;
  EXPECT_FALSE(b.take(1000));
  EXPECT_FALSE(b.take(1099));  // 99 ms at 10/s: 0.99 of a token
  EXPECT_TRUE(b.take(1100));
  EXPECT_FALSE(b.take(1100));
}

TEST(TokenBucket, RefillIsExactOverManySmallSteps) {
  // 3 per second polled every millisecond for 10 s: exactly 30 tokens beyond the burst, though
  // no single millisecond adds a whole token.
  token_bucket b(3, 4);
  int taken = 0;
  for (std::uint64_t now = 0; now <= 10'000; ++now) {
    while (b.take(now)) ++taken;
  }
  EXPECT_EQ(taken, 30 + 4);
}

TEST(TokenBucket, RefillIsExactWithIrregularSteps) {
  token_bucket b(7, 5);  // a burst above what one step adds, so the cap never cuts a refill
  int taken = 0;
  std::uint64_t now = 5;
  for (int i = 0; i < 100'000; ++i) {
    now += static_cast<std::uint64_t>(i % 13);
    while (b.take(now)) ++taken;
  }
  // Every token was taken as soon as it was whole, so none was lost to the cap.
  EXPECT_EQ(static_cast<std::uint64_t>(taken), 5 + (now - 5) * 7 / 1000);
}

TEST(TokenBucket, CapsAtBurst) {
  token_bucket b(1000, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.take(0));
  EXPECT_FALSE(b.take(0));
  // An hour later there are still only 3.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.take(3'600'000));
  EXPECT_FALSE(b.take(3'600'000));
}

TEST(TokenBucket, CostTakesThatManyTokens) {
  token_bucket b(1000, 100);  // e.g. bytes
  EXPECT_TRUE(b.take(0, 60));
  EXPECT_FALSE(b.take(0, 41));
  EXPECT_TRUE(b.take(0, 40));
  EXPECT_FALSE(b.take(0, 1));
  EXPECT_FALSE(b.take(10, 11));
  EXPECT_TRUE(b.take(10, 10));
}

TEST(TokenBucket, OversizedCostAllowedOnceFromAFullBucket) {
  token_bucket b(100, 10);
  EXPECT_TRUE(b.take(0, 50));  // full: allowed, and empties the bucket
  EXPECT_FALSE(b.take(0, 1));
  EXPECT_FALSE(b.take(50, 50));  // 5 tokens back, not full: refused
  EXPECT_TRUE(b.take(100, 50));  // full again
  EXPECT_FALSE(b.take(100, 1));
  EXPECT_FALSE(b.take(100, std::numeric_limits<std::uint32_t>::max()));
  EXPECT_TRUE(b.take(1000, std::numeric_limits<std::uint32_t>::max()));
}

TEST(TokenBucket, UnlimitedAlwaysTakes) {
  token_bucket def;
  token_bucket zero(0, 5);
  EXPECT_TRUE(def.unlimited());
  EXPECT_TRUE(zero.unlimited());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(def.take(0, std::numeric_limits<std::uint32_t>::max()));
    EXPECT_TRUE(zero.take(0, 1'000'000));
  }
  EXPECT_TRUE(def.full_at(0));
}

TEST(TokenBucket, ZeroBurstMeansOneSecondsWorth) {
  token_bucket b(4, 0);
  EXPECT_EQ(b.burst(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(b.take(0));
  EXPECT_FALSE(b.take(0));
}

TEST(TokenBucket, ClockGoingBackwardsAddsNothing) {
  token_bucket b(1, 1);
  EXPECT_TRUE(b.take(10'000));
  EXPECT_FALSE(b.take(5'000));
  EXPECT_FALSE(b.take(0));
  EXPECT_FALSE(b.take(10'999));  // the step back did not restart the count either
  EXPECT_TRUE(b.take(11'000));
}

TEST(TokenBucket, LargeClockValuesDoNotOverflow) {
  constexpr std::uint64_t big = std::numeric_limits<std::uint64_t>::max() - 10'000;
  constexpr std::uint32_t max32 = std::numeric_limits<std::uint32_t>::max();
  token_bucket b(max32, max32);
  EXPECT_TRUE(b.take(big, max32));  // full: takes all of it
  EXPECT_FALSE(b.take(big, 1));
  EXPECT_FALSE(b.take(big + 1, max32));
  EXPECT_TRUE(b.take(big + 1, 4'294'967));  // 1 ms at 2^32-1 per second, 295 milli-tokens over
  EXPECT_FALSE(b.take(big + 1, 1));
  EXPECT_TRUE(b.take(big + 1001, max32));  // a whole second: full again
  EXPECT_TRUE(b.take(std::numeric_limits<std::uint64_t>::max(), 1));

  token_bucket slow(1, 2);
  EXPECT_TRUE(slow.take(0, 2));
  EXPECT_FALSE(slow.take(999));
  EXPECT_TRUE(slow.take(big, 2));  // a huge jump refills exactly to the burst
  EXPECT_FALSE(slow.take(big));
}

TEST(TokenBucket, FullAtDoesNotChangeTheBucket) {
  token_bucket b(2, 2);
  EXPECT_TRUE(b.full_at(0));
  EXPECT_TRUE(b.full());
  EXPECT_TRUE(b.take(100));
  EXPECT_FALSE(b.full());
  EXPECT_FALSE(b.full_at(100));
  EXPECT_FALSE(b.full_at(599));
  EXPECT_TRUE(b.full_at(600));
  EXPECT_FALSE(b.full_at(50));  // before the last take
  EXPECT_TRUE(b.take(100));     // still one token at 100
  EXPECT_FALSE(b.take(100));
  EXPECT_TRUE(b.take(1100, 2));  // refilled by the take itself
  EXPECT_FALSE(b.full());
  EXPECT_FALSE(b.take(1100));
  EXPECT_TRUE(b.take(2100, 0));  // a zero-cost take refills without taking
  EXPECT_TRUE(b.full());
}

TEST(TokenBucket, ReconfigureKeepsTokensUpToTheNewBurst) {
  token_bucket b(10, 10);
  EXPECT_TRUE(b.take(0, 4));  // 6 left
  b.reconfigure(10, 3);       // capped at 3
  EXPECT_TRUE(b.take(0, 3));
  EXPECT_FALSE(b.take(0));
  b.reconfigure(0, 0);
  EXPECT_TRUE(b.unlimited());
  EXPECT_TRUE(b.take(0, 1000));
  b.reconfigure(1, 2);  // from unlimited: starts full
  EXPECT_TRUE(b.take(0, 2));
  EXPECT_FALSE(b.take(0));
}

}  // namespace
}  // namespace shoal::core
