// Shared permessage-deflate codecs of one shard (see deflate_pool.hpp): a linear search over a
// few entries. A codec with context takeover in a shared pool would mix connections' contexts,
// so asking for one is a broken invariant and aborts. Used by one thread.
#include "core/deflate_pool.hpp"

#include <cstdio>
#include <cstdlib>

namespace shoal::core {
namespace {

[[noreturn]] void takeover_not_shareable() {
  std::fputs("shoal: a codec with context takeover cannot be shared (deflate_pool)\n", stderr);
  std::abort();
}

}  // namespace

deflater& deflate_pool::compressor(const deflater_settings& settings) {
  if (settings.context_takeover) takeover_not_shareable();
  for (const auto& d : deflaters_) {
    if (d->settings() == settings) return *d;
  }
  deflaters_.push_back(std::make_unique<deflater>(settings));
  return *deflaters_.back();
}

inflater& deflate_pool::decompressor(const inflater_settings& settings) {
  if (settings.context_takeover) takeover_not_shareable();
  for (const auto& i : inflaters_) {
    if (i->settings() == settings) return *i;
  }
  inflaters_.push_back(std::make_unique<inflater>(settings));
  return *inflaters_.back();
}

std::size_t deflate_pool::memory_bytes() const noexcept {
  std::size_t total = 0;
  for (const auto& d : deflaters_) total += d->memory_bytes();
  for (const auto& i : inflaters_) total += i->memory_bytes();
  return total;
}

}  // namespace shoal::core
