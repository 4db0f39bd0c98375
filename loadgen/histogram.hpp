// Latency histogram, HdrHistogram-style: log-bucketed with 128 linear sub-buckets per power of
// two, so any recorded value is reported within 1/256 of itself (values below 256 exactly).
// Range 1 ns .. 1 hour; larger values are clamped to the top and counted in clamped().
// One histogram per worker thread (not thread-safe); merge() them after the threads have joined.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace shoal::loadgen {

class histogram {
 public:
  static constexpr std::uint64_t lowest = 1;
  static constexpr std::uint64_t highest = 3'600'000'000'000ull;  // 1 hour in ns
  static constexpr unsigned sub_bucket_bits = 7;                    // 128 sub-buckets per 2^k
  // Worst relative error of a reported value: half a sub-bucket over its lower bound.
  static constexpr double max_relative_error = 1.0 / 256.0;

  histogram();

  // Records `value` (ns) `count` times. Values below `lowest` count as `lowest`.
  void record(std::uint64_t value, std::uint64_t count = 1) noexcept;
  // Adds every count of `other` (same layout by construction).
  void merge(const histogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  std::uint64_t clamped() const noexcept { return clamped_; }
  double mean() const noexcept;
  // The value at percentile `p` (0..100]: the smallest recorded value v such that at least
  // ceil(p/100 * count) values are <= v, within max_relative_error; clamped to [min, max].
  // 0 when empty.
  std::uint64_t percentile(double p) const noexcept;

  // Exact serialisation, for merging the reports of child processes: the non-empty buckets
  // (index, count) in index order, and a histogram rebuilt from them and the exact extremes.
  std::vector<std::pair<std::size_t, std::uint64_t>> buckets() const;
  std::uint64_t sum() const noexcept { return static_cast<std::uint64_t>(sum_); }
  static histogram from_buckets(const std::vector<std::pair<std::size_t, std::uint64_t>>& buckets,
                                std::uint64_t min, std::uint64_t max, std::uint64_t clamped,
                                std::uint64_t sum);

  // Bucket arithmetic, exposed for tests.
  static std::size_t index_of(std::uint64_t value) noexcept;
  static std::uint64_t lower_bound_of(std::size_t index) noexcept;
  static std::uint64_t width_of(std::size_t index) noexcept;
  static std::size_t bucket_count() noexcept;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
  std::uint64_t clamped_ = 0;
  long double sum_ = 0;
};

}  // namespace shoal::loadgen
