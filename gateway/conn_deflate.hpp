// One connection's permessage-deflate state (RFC 7692), present only on connections that agreed
// to it: the agreed parameters, and the compressor / decompressor of its own that context
// takeover needs (created on first use). Without takeover in a direction the connection uses the
// shard's shared codec for its settings (core/deflate_pool.hpp) and holds no zlib memory.
// Shard-owned, like its connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/deflate_pool.hpp"
#include "core/frame.hpp"
#include "core/permessage_deflate.hpp"
#include "core/utf8.hpp"

namespace shoal::gateway {

// The compressor settings of the one compressed variant a broadcast frame carries: no context
// takeover, the policy's window. Connections with exactly these settings share its bytes.
core::deflater_settings broadcast_deflater_settings(const core::deflate_policy& policy) noexcept;

class conn_deflate {
 public:
  conn_deflate(const core::deflate_params& params, const core::deflate_policy& policy) noexcept;
  conn_deflate(const conn_deflate&) = delete;
  conn_deflate& operator=(const conn_deflate&) = delete;

  // Inbound. True if fragments of a compressed message must be gathered and inflated whole
  // (the shared decompressor takes whole messages only, see core/inflater.hpp).
  bool inflates_whole() const noexcept { return !in_settings_.context_takeover; }
  // Inflates the next chunk of a compressed message into `out` (bounded by max_size); `text`
  // validates the output as UTF-8 when not null.
  core::inflate_status inflate(core::deflate_pool& pool, std::span<const std::uint8_t> chunk, bool last,
                               std::vector<std::uint8_t>& out, std::size_t max_size,
                               core::utf8_validator* text);

  // Outbound: compresses `payload` as one message and frames it (RSV1, FIN) in `scratch`;
  // returns the frame, or nullopt if compressing would not make it smaller (send it plain:
  // RFC 7692 §6 lets any message go uncompressed).
  std::optional<std::span<const std::uint8_t>> compress_frame(core::deflate_pool& pool,
                                                              core::opcode op,
                                                              std::span<const std::uint8_t> payload,
                                                              std::vector<std::uint8_t>& scratch);
  // True if this connection can be sent the compressed variant of a broadcast frame.
  bool takes_broadcast_variant() const noexcept { return takes_broadcast_; }

  // Bytes zlib holds for this connection's own codecs (0 without context takeover).
  std::size_t memory_bytes() const noexcept;

 private:
  core::deflater_settings out_settings_;
  core::inflater_settings in_settings_;
  bool takes_broadcast_ = false;
  std::unique_ptr<core::deflater> own_deflater_;  // server context takeover, from the first send
  std::unique_ptr<core::inflater> own_inflater_;  // client context takeover, from the first message
};

}  // namespace shoal::gateway
