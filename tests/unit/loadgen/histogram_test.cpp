// Tests for loadgen/histogram and loadgen/pacer: bucket arithmetic, percentiles against a sorted
// reference on random data within the stated relative error, merging, clamping, and the
// coordinated-omission correction of an open-loop schedule on a synthetic 100 ms stall.
// Single-threaded.
#include "loadgen/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "loadgen/pacer.hpp"

namespace shoal::loadgen {
namespace {

constexpr double percentiles[] = {1, 10, 50, 90, 99, 99.9, 99.99, 100};

std::uint64_t reference_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::vector<std::uint64_t> log_uniform(std::size_t n, double lo, double hi, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(std::log(lo), std::log(hi));
  std::vector<std::uint64_t> v(n);
  for (auto& x : v) x = static_cast<std::uint64_t>(std::exp(d(rng)));
  return v;
}

TEST(Histogram, BucketsCoverEveryValueWithBoundedWidth) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t v = (1 + rng() % histogram::highest) >> (rng() % 40);
    const std::size_t idx = histogram::index_of(v);
    ASSERT_LT(idx, histogram::bucket_count());
    const std::uint64_t lo = histogram::lower_bound_of(idx);
    const std::uint64_t w = histogram::width_of(idx);
    ASSERT_LE(lo, v);
    ASSERT_LT(v, lo + w);
    ASSERT_LE(static_cast<double>(w) / 2.0, static_cast<double>(lo) * histogram::max_relative_error + 0.5);
  }
  for (std::uint64_t v = 0; v < 256; ++v) EXPECT_EQ(histogram::lower_bound_of(histogram::index_of(v)), v);
}

TEST(Histogram, PercentilesMatchSortedReferenceWithinRelativeError) {
  for (unsigned seed = 1; seed <= 4; ++seed) {
    auto values = log_uniform(100000, 100, 5e9, seed);
    histogram h;
    for (auto v : values) h.record(v);
    std::sort(values.begin(), values.end());
    ASSERT_EQ(h.count(), values.size());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    for (double p : percentiles) {
      const auto ref = static_cast<double>(reference_percentile(values, p));
      const auto got = static_cast<double>(h.percentile(p));
      EXPECT_LE(std::abs(got - ref), ref * histogram::max_relative_error + 0.5)
          << "p" << p << " seed " << seed << " ref " << ref << " got " << got;
    }
  }
}

TEST(Histogram, SmallValuesAreExact) {
  histogram h;
  for (std::uint64_t v = 1; v <= 200; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 100u);
  EXPECT_EQ(h.percentile(100), 200u);
  EXPECT_EQ(h.percentile(0.5), 1u);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  const auto a = log_uniform(50000, 1000, 1e8, 7);
  const auto b = log_uniform(30000, 1e4, 1e10, 8);
  histogram ha, hb, all;
  for (auto v : a) { ha.record(v); all.record(v); }
  for (auto v : b) { hb.record(v); all.record(v); }
  ha.merge(hb);
  EXPECT_EQ(ha.count(), all.count());
  EXPECT_EQ(ha.min(), all.min());
  EXPECT_EQ(ha.max(), all.max());
  EXPECT_DOUBLE_EQ(ha.mean(), all.mean());
  for (double p : percentiles) EXPECT_EQ(ha.percentile(p), all.percentile(p)) << p;
  histogram empty;
  ha.merge(empty);
  EXPECT_EQ(ha.count(), all.count());
  EXPECT_EQ(ha.min(), all.min());
}

TEST(Histogram, EmptyAndOutOfRange) {
  histogram h;
  EXPECT_EQ(h.percentile(99), 0u);
  EXPECT_EQ(h.max(), 0u);
  h.record(0);
  EXPECT_EQ(h.min(), histogram::lowest);
  h.record(histogram::highest * 10, 3);
  EXPECT_EQ(h.clamped(), 3u);
  EXPECT_EQ(h.max(), histogram::highest);
  EXPECT_EQ(h.count(), 4u);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
}

TEST(Pacer, IntendedTimesFollowTheRate) {
  pacer p(1'000'000, 1000.0);  // one message per ms from t = 1 ms
  EXPECT_TRUE(p.due(1'000'000));
  EXPECT_EQ(p.take(), 1'000'000);
  EXPECT_FALSE(p.due(1'999'999));
  EXPECT_EQ(p.take(), 2'000'000);
  for (int i = 0; i < 998; ++i) p.take();
  EXPECT_EQ(p.next_due(), 1'001'000'000);
  EXPECT_EQ(p.issued(), 1000u);
}

// Open loop at 1000 msg/s for 5 s against a server that answers in 100 µs, except for one
// 100 ms stall. The sender waits for each answer before the next send (as a blocked socket
// would). Measured from the actual send time, only one message sees the stall; measured from
// the intended send time, the ~100 messages that should have gone out during it do too.
TEST(Histogram, CoordinatedOmissionCorrectionShowsAStall) {
  constexpr std::int64_t ms = 1'000'000;
  constexpr std::int64_t service = 100'000;  // 100 µs
  constexpr std::int64_t stall_from = 2500 * ms, stall_to = 2600 * ms;
  pacer p(0, 1000.0);
  histogram corrected, uncorrected;
  std::int64_t free_at = 0;
  while (p.next_due() < 5000 * ms) {
    const std::int64_t intended = p.take();
    const std::int64_t sent = std::max(intended, free_at);
    std::int64_t answered = sent + service;
    if (sent < stall_to && answered > stall_from) answered = stall_to + service;
    free_at = answered;
    corrected.record(static_cast<std::uint64_t>(answered - intended));
    uncorrected.record(static_cast<std::uint64_t>(answered - sent));
  }
  ASSERT_EQ(corrected.count(), 5000u);
  EXPECT_LT(uncorrected.percentile(99), static_cast<std::uint64_t>(ms));       // < 1 ms
  EXPECT_GT(corrected.percentile(99), static_cast<std::uint64_t>(10 * ms));    // > 10 ms
  EXPECT_GT(corrected.percentile(98.5), static_cast<std::uint64_t>(ms));
  EXPECT_GE(uncorrected.max(), static_cast<std::uint64_t>(99 * ms));           // the one victim
  EXPECT_GE(corrected.max(), static_cast<std::uint64_t>(99 * ms));
}

}  // namespace
}  // namespace shoal::loadgen
