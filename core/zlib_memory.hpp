// Counting allocator for zlib streams: every z_stream of the deflater and inflater allocates
// through zlib_alloc / zlib_free with a zlib_memory as its opaque pointer, so each stream knows
// the bytes it holds (for the documented memory per connection, tests and metrics).
// A zlib_memory belongs to the stream that owns it and is touched by that stream's thread only.
// Allocation failure aborts with a message (out of memory is a broken invariant here).
#pragma once

#include <cstddef>

namespace shoal::core {

struct zlib_memory {
  std::size_t bytes = 0;  // held now
  std::size_t peak = 0;   // most held at once
};

// zalloc / zfree for z_stream (opaque: a zlib_memory*).
void* zlib_alloc(void* opaque, unsigned items, unsigned size) noexcept;
void zlib_free(void* opaque, void* address) noexcept;

}  // namespace shoal::core
