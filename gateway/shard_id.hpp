// shard_id, a strong type for a shard's index, and the owner check that shard-owned objects
// run on entry in debug builds: a shard's connections, buffers and topics are touched only by
// the thread that runs the shard.
#pragma once

#include <cassert>
#include <cstdint>
#include <thread>

namespace shoal::gateway {

enum class shard_id : std::uint16_t {};

constexpr std::uint16_t index_of(shard_id id) noexcept { return static_cast<std::uint16_t>(id); }

// Embedded in shard-owned objects; bind() on the owner thread, check() on every entry point.
// Empty in release builds (members use [[no_unique_address]]), so it costs idle connections
// nothing there.
#ifdef NDEBUG
class owner_check {
 public:
  void bind() noexcept {}
  void check() const noexcept {}
};
#else
class owner_check {
 public:
  void bind() noexcept { owner_ = std::this_thread::get_id(); }
  void check() const noexcept {
    assert(owner_ == std::thread::id{} || owner_ == std::this_thread::get_id());
  }

 private:
  std::thread::id owner_{};
};
#endif

}  // namespace shoal::gateway
