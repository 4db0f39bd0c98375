// Latency histogram: bucket arithmetic and percentiles. Values below 2^8 get one bucket each;
// from 2^8 up, the power-of-two range [2^k, 2^(k+1)) is split into 128 buckets of width
// 2^(k-7). Owned by one thread; see histogram.hpp.
#include "loadgen/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace shoal::loadgen {
namespace {
constexpr std::uint64_t sub_count = std::uint64_t{1} << histogram::sub_bucket_bits;  // 128
constexpr std::uint64_t linear_limit = 2 * sub_count;                               // 256
}  // namespace

std::size_t histogram::index_of(std::uint64_t value) noexcept {
  if (value < linear_limit) return static_cast<std::size_t>(value);
  const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(value));  // >= 8
  const unsigned shift = msb - sub_bucket_bits;
  const std::uint64_t sub = (value >> shift) - sub_count;  // 0..127
  return static_cast<std::size_t>(linear_limit + (msb - 8) * sub_count + sub);
}

std::uint64_t histogram::lower_bound_of(std::size_t index) noexcept {
  if (index < linear_limit) return index;
  const std::uint64_t rel = index - linear_limit;
  const unsigned msb = static_cast<unsigned>(rel / sub_count) + 8;
  const std::uint64_t sub = rel % sub_count + sub_count;
  return sub << (msb - sub_bucket_bits);
}

std::uint64_t histogram::width_of(std::size_t index) noexcept {
  if (index < linear_limit) return 1;
  const unsigned msb = static_cast<unsigned>((index - linear_limit) / sub_count) + 8;
  return std::uint64_t{1} << (msb - sub_bucket_bits);
}

std::size_t histogram::bucket_count() noexcept { return index_of(highest) + 1; }

histogram::histogram() : counts_(bucket_count(), 0) {}

void histogram::record(std::uint64_t value, std::uint64_t count) noexcept {
  if (count == 0) return;
  if (value < lowest) value = lowest;
  if (value > highest) {
    value = highest;
    clamped_ += count;
  }
  counts_[index_of(value)] += count;
  total_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value) * static_cast<long double>(count);
}

void histogram::merge(const histogram& other) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  clamped_ += other.clamped_;
  sum_ += other.sum_;
}

std::vector<std::pair<std::size_t, std::uint64_t>> histogram::buckets() const {
  std::vector<std::pair<std::size_t, std::uint64_t>> out;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i] != 0) out.emplace_back(i, counts_[i]);
  return out;
}

histogram histogram::from_buckets(const std::vector<std::pair<std::size_t, std::uint64_t>>& buckets,
                                  std::uint64_t min, std::uint64_t max, std::uint64_t clamped,
                                  std::uint64_t sum) {
  histogram h;
  for (const auto& [index, count] : buckets) {
    if (index >= h.counts_.size()) continue;
    h.counts_[index] += count;
    h.total_ += count;
  }
  if (h.total_ > 0) {
    h.min_ = min;
    h.max_ = max;
  }
  h.clamped_ = clamped;
  h.sum_ = static_cast<long double>(sum);
  return h;
}

void histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  min_ = ~std::uint64_t{0};
  max_ = 0;
  clamped_ = 0;
  sum_ = 0;
}

double histogram::mean() const noexcept {
  return total_ ? static_cast<double>(sum_ / static_cast<long double>(total_)) : 0.0;
}

std::uint64_t histogram::percentile(double p) const noexcept {
  if (total_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
  rank = std::clamp<std::uint64_t>(rank, 1, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t mid = lower_bound_of(i) + width_of(i) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace shoal::loadgen
