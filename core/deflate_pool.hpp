// One shard's shared permessage-deflate codecs: a deflater per distinct deflater_settings for the
// connections whose server side has no context takeover (compress each broadcast once, send the
// same bytes to all of them), and an inflater per distinct inflater_settings for the connections
// with client_no_context_takeover (each fed whole messages only). Codecs are created on first use
// and kept; there are at most a handful (one per window size in use, usually one).
// Shard-owned: one thread; references stay valid for the pool's lifetime.
#pragma once

#include <memory>
#include <vector>

#include "core/deflater.hpp"
#include "core/inflater.hpp"

namespace shoal::core {

class deflate_pool {
 public:
  // The shared compressor for `settings`. Precondition: !settings.context_takeover (a compressor
  // that keeps context belongs to one connection).
  deflater& compressor(const deflater_settings& settings);
  // The shared decompressor for `settings`. Precondition: !settings.context_takeover.
  inflater& decompressor(const inflater_settings& settings);

  // Bytes zlib holds for all of the pool's codecs.
  std::size_t memory_bytes() const noexcept;

 private:
  std::vector<std::unique_ptr<deflater>> deflaters_;
  std::vector<std::unique_ptr<inflater>> inflaters_;
};

}  // namespace shoal::core
