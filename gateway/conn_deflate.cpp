// A connection's permessage-deflate codecs (see conn_deflate.hpp).
#include "gateway/conn_deflate.hpp"

namespace shoal::gateway {

core::deflater_settings broadcast_deflater_settings(const core::deflate_policy& policy) noexcept {
  core::deflate_params shared;
  shared.server_no_context_takeover = true;
  shared.server_max_window_bits = policy.server_max_window_bits;
  return core::server_deflater_settings(shared, policy);
}

conn_deflate::conn_deflate(const core::deflate_params& params,
                           const core::deflate_policy& policy) noexcept
    : out_settings_(core::server_deflater_settings(params, policy)),
      in_settings_(core::server_inflater_settings(params)),
      takes_broadcast_(out_settings_ == broadcast_deflater_settings(policy)) {}

core::inflate_status conn_deflate::inflate(core::deflate_pool& pool,
                                           std::span<const std::uint8_t> chunk, bool last,
                                           std::vector<std::uint8_t>& out, std::size_t max_size,
                                           core::utf8_validator* text) {
  if (!in_settings_.context_takeover) return pool.decompressor(in_settings_).feed(chunk, last, out, max_size, text);
  if (!own_inflater_) own_inflater_ = std::make_unique<core::inflater>(in_settings_);
  return own_inflater_->feed(chunk, last, out, max_size, text);
}

std::optional<std::span<const std::uint8_t>> conn_deflate::compress_frame(
    core::deflate_pool& pool, core::opcode op, std::span<const std::uint8_t> payload,
    std::vector<std::uint8_t>& scratch) {
  core::deflater* d = nullptr;
  if (!out_settings_.context_takeover) {
    d = &pool.compressor(out_settings_);
  } else {
    if (!own_deflater_) own_deflater_ = std::make_unique<core::deflater>(out_settings_);
    d = own_deflater_.get();
  }
  const std::size_t room = core::compressed_frame_capacity(payload.size());
  if (scratch.size() < room) scratch.resize(room);
  const std::span<const std::uint8_t> chunks[] = {payload};
  const auto frame = core::encode_compressed_frame(*d, op, chunks, nullptr, scratch);
  if (!frame) return std::nullopt;  // cannot happen with `room`; plain is always correct
  // With context takeover the compressor has taken the message into its window, so the client
  // must see these bytes even when they are not smaller: its decompressor follows ours.
  if (!out_settings_.context_takeover &&
      frame->size() >= core::frame_header_size(payload.size(), false) + payload.size())
    return std::nullopt;
  return std::span<const std::uint8_t>(frame->data(), frame->size());
}

std::size_t conn_deflate::memory_bytes() const noexcept {
  return (own_deflater_ ? own_deflater_->memory_bytes() : 0) +
         (own_inflater_ ? own_inflater_->memory_bytes() : 0);
}

}  // namespace shoal::gateway
