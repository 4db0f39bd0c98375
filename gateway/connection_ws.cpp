// The WebSocket session of a connection (see connection.hpp): frames decoded in place, fragments
// assembled, permessage-deflate inflated, whole messages to the endpoint (echo, or the pub/sub
// session), control frames answered, the closing handshake from either side through one
// send_close, heartbeats and the idle timeout, and the frames it queues (compressed when agreed).
#include <algorithm>
#include <cstring>

#include "core/frame_encoder.hpp"
#include "gateway/connection.hpp"
#include "gateway/pubsub_protocol.hpp"

namespace shoal::gateway {

namespace {
constexpr std::size_t keep_message_capacity = 64 * 1024;
}  // namespace

std::size_t connection::process_frames(shard_context& ctx, std::span<std::uint8_t> bytes) {
  std::size_t used = 0;
  while (used < bytes.size() && !input_done_ && held_ == 0) {
    const core::decode_event ev = in_->decoder.next(bytes.subspan(used));
    used += ev.consumed;
    switch (ev.status) {
      case core::decode_status::need_more:
        return bytes.size();
      case core::decode_status::data:
        last_rx_ = tick32(ctx.now);
        if (state_ == conn_state::open) on_message_chunk(ctx, ev);
        break;  // after our Close, data is discarded (§5.5.1)
      case core::decode_status::control:
        last_rx_ = tick32(ctx.now);
        on_control(ctx, ev);
        break;
      case core::decode_status::error:
        fail(ctx, ev.error);
        return bytes.size();
    }
  }
  return input_done_ ? bytes.size() : used;
}

void connection::on_message_chunk(shard_context& ctx, const core::decode_event& ev) {
  if (ev.compressed) [[unlikely]] {  // only once permessage-deflate is agreed (RSV1 allowed)
    on_compressed_chunk(ctx, ev);
    return;
  }
  if (ev.first && ev.last) {  // a whole message in one read: use it straight from the buffer
    on_message(ctx, ev.op, ev.payload);
    return;
  }
  std::vector<std::uint8_t>& message = in_->message;
  if (ev.first) {
    in_->message_op = ev.op;
    message.clear();
  }
  // The decoder has checked the message against max_message_size before this chunk arrived.
  message.insert(message.end(), ev.payload.begin(), ev.payload.end());
  if (!ev.last) return;
  // on_message may send, never release in_, so `message` stays valid through the call.
  on_message(ctx, in_->message_op, message);
  message.clear();
  if (message.capacity() > keep_message_capacity) std::vector<std::uint8_t>().swap(message);
}

void connection::on_compressed_chunk(shard_context& ctx, const core::decode_event& ev) {
  input_state& in = *in_;
  if (ev.first) {
    in.message_op = ev.op;
    in.message.clear();
    in.inflated_text.reset();
  }
  core::utf8_validator* text = ev.op == core::opcode::text ? &in.inflated_text : nullptr;
  // A connection with its own decompressor inflates chunk by chunk into `message` (UTF-8 checked
  // as it comes); the shard's shared one takes whole messages, so fragments are gathered first
  // (the decoder has bounded their compressed size by max_message_size).
  std::span<const std::uint8_t> input = ev.payload;
  std::vector<std::uint8_t>* out = &in.message;
  if (deflate_->inflates_whole()) {
    if (!(ev.first && ev.last)) {
      in.message.insert(in.message.end(), ev.payload.begin(), ev.payload.end());
      if (!ev.last) return;
      input = in.message;
    }
    out = &ctx.inflated;
    out->clear();
  }
  const core::inflate_status status =
      deflate_->inflate(*ctx.deflate, input, ev.last, *out, ctx.settings.max_message_size, text);
  if (status == core::inflate_status::more) return;
  if (status != core::inflate_status::done) {
    fail(ctx, core::error_for(status));  // 1009 past the size limit, 1007 for bad data or UTF-8
    return;
  }
  shard_metrics::add(ctx.metrics.deflate_inflated);
  on_message(ctx, in.message_op, *out);
  out->clear();
  if (out->capacity() > keep_message_capacity) std::vector<std::uint8_t>().swap(*out);
  in.message.clear();  // on_message never releases in_ (see on_message_chunk)
  if (in.message.capacity() > keep_message_capacity) std::vector<std::uint8_t>().swap(in.message);
}

void connection::on_message(shard_context& ctx, core::opcode op,
                            std::span<const std::uint8_t> payload) {
  shard_metrics::add(ctx.metrics.messages_in);
  if (endpoint_ == endpoint::echo) {
    queue_frame(ctx, op, payload);
    return;
  }
  if (op != core::opcode::text) {
    std::string error;
    encode_error(error, protocol_error_code::bad_message, "shoal.v1 messages are JSON in text frames", {}, {});
    queue_text(ctx, error);
    return;
  }
  if (!session_) session_ = std::make_unique<pubsub_session>(*this, ctx);  // from the first message
  session_->on_text(ctx, {reinterpret_cast<const char*>(payload.data()), payload.size()});
}

void connection::on_control(shard_context& ctx, const core::decode_event& ev) {
  switch (ev.op) {
    case core::opcode::ping:
      if (state_ == conn_state::open) queue_frame(ctx, core::opcode::pong, ev.payload);
      return;
    case core::opcode::pong:
      // Unsolicited pongs are allowed and ignored (§5.5.3). An answer moves the timer from
      // the pong deadline back to the next ping.
      if (ping_outstanding_) {
        ping_outstanding_ = false;
        reschedule(ctx);
      }
      return;
    case core::opcode::close: {
      // The peer's Close: answer with the same code if we have not sent ours (§5.5.1), then the
      // server closes the TCP connection first (§7.1.1) once the answer is written.
      send_close(ctx, core::parse_close_body(ev.payload).code, {});
      input_done_ = true;
      after_flush_ = then::close;
      mark_dirty(ctx);
      return;
    }
    default:
      return;
  }
}

void connection::send_close(shard_context& ctx, std::uint16_t code, std::string_view reason) {
  if (!close_sent_) {
    // 1005 (no status) is never sent: the answer to a Close without a code has no body.
    std::uint8_t body[core::max_control_payload];
    const std::size_t len = code == static_cast<std::uint16_t>(core::close_code::no_status)
                                ? 0
                                : core::encode_close_body(body, static_cast<core::close_code>(code), reason);
    queue_frame(ctx, core::opcode::close, {body, len});
    close_sent_ = true;
    ctx.metrics.count_close(code);
  }
  if (state_ == conn_state::open) enter(ctx, conn_state::closing);
}

void connection::fail(shard_context& ctx, core::protocol_error err) {
  // Fail the WebSocket connection (§7.1.7): send a Close with the code for the error, then
  // half-close and wait briefly for the peer's FIN so it can read our Close.
  send_close(ctx, static_cast<std::uint16_t>(core::close_code_for(err)), core::describe(err));
  input_done_ = true;
  after_flush_ = then::linger;
  mark_dirty(ctx);
}

void connection::start_close(shard_context& ctx, std::uint16_t code, std::string_view reason) {
  owner_.check();
  if (state_ == conn_state::http) {
    abort(ctx);  // no WebSocket yet: nothing to say
    return;
  }
  if (state_ != conn_state::open || close_sent_) return;
  send_close(ctx, code, reason);  // keep reading for the peer's Close, until the close timeout
}

void connection::on_open_timer(shard_context& ctx) {
  const connection_settings& s = ctx.settings;
  if (session_ && session_->deadline() != 0 && ctx.now >= session_->deadline()) {
    session_->on_deadline(ctx);  // closes: no token in time, or the token expired
    return;
  }
  if (held_ != 0) {
    // Shoal holds this peer's input back (its queues are full), so a pong or any frame it
    // sent waits unread: not the peer's silence. The clocks restart when reading resumes.
    last_rx_ = tick32(ctx.now);
    if (ping_outstanding_) ping_sent_ = tick32(ctx.now);
    return;
  }
  if (ping_outstanding_ && since(ctx, ping_sent_) >= s.pong_timeout_ticks) {
    shard_metrics::add(ctx.metrics.heartbeat_timeouts);
    abort(ctx);  // the peer stopped answering: vanished, or stopped reading
    return;
  }
  if (s.idle_ticks && since(ctx, last_rx_) >= s.idle_ticks) {
    start_close(ctx, static_cast<std::uint16_t>(core::close_code::going_away), "idle timeout");
    return;
  }
  if (s.ping_interval_ticks && !ping_outstanding_ && since(ctx, ping_sent_) >= s.ping_interval_ticks) {
    queue_frame(ctx, core::opcode::ping, {});
    ping_outstanding_ = true;
    ping_sent_ = tick32(ctx.now);
    shard_metrics::add(ctx.metrics.pings_sent);
  }
}

std::uint64_t connection::open_due(const shard_context& ctx) const {
  const connection_settings& s = ctx.settings;
  // The tick at which `ticks` will have passed since `start`.
  const auto after = [&ctx](std::uint32_t start, std::uint64_t ticks) {
    const std::uint64_t elapsed = since(ctx, start);
    return ctx.now + (ticks > elapsed ? ticks - elapsed : 0);
  };
  std::uint64_t next = ~std::uint64_t{0};
  if (ping_outstanding_) next = after(ping_sent_, s.pong_timeout_ticks);
  else if (s.ping_interval_ticks) next = after(ping_sent_, s.ping_interval_ticks);
  if (s.idle_ticks) next = std::min(next, after(last_rx_, s.idle_ticks));
  if (session_ && session_->deadline() != 0) next = std::min(next, session_->deadline());
  return next;
}

void connection::queue_frame(shard_context& ctx, core::opcode op,
                             std::span<const std::uint8_t> payload) {
  if (close_sent_) return;  // the Close is the last frame we send (§5.5.1)
  // Control frames are never compressed (RFC 7692 §6.1); small messages are not worth it.
  if (deflate_ && !core::is_control(op) && payload.size() >= ctx.settings.deflate_min_size &&
      queue_compressed(ctx, op, payload))
    return;
  const std::size_t header = core::frame_header_size(payload.size(), false);
  std::uint8_t* p = output(ctx).append_local(header + payload.size());
  core::encode_frame_header(p, op, payload.size(), true, false, nullptr);
  if (!payload.empty()) std::memcpy(p + header, payload.data(), payload.size());
  if (!core::is_control(op)) shard_metrics::add(ctx.metrics.messages_out);
  mark_dirty(ctx);
}

bool connection::queue_compressed(shard_context& ctx, core::opcode op,
                                  std::span<const std::uint8_t> payload) {
  const auto frame = deflate_->compress_frame(*ctx.deflate, op, payload, ctx.deflate_out);
  shard_metrics::add(ctx.metrics.deflate_compressed);
  if (!frame) return false;
  std::memcpy(output(ctx).append_local(frame->size()), frame->data(), frame->size());
  if (ctx.deflate_out.size() > keep_message_capacity) std::vector<std::uint8_t>().swap(ctx.deflate_out);
  shard_metrics::add(ctx.metrics.messages_out);
  mark_dirty(ctx);
  return true;
}

void connection::queue_broadcast_deflate(shard_context& ctx, local_frame* frame) {
  // The frame's shared compressed variant if this connection's settings allow it (compressed
  // once for every such subscriber); else compressed for this connection alone (context
  // takeover, or another window), or plain if small.
  const shared_frame& f = *frame->frame;
  if (f.compressed_size() != 0 && deflate_->takes_broadcast_variant()) {
    out_queue& q = output(ctx);
    q.append_shared(frame, f.size(), f.compressed_size());
    shard_metrics::add(ctx.metrics.messages_out);
    shard_metrics::add(ctx.metrics.deflate_shared_sends);
    mark_dirty(ctx, q.buffered());
    return;
  }
  const std::span<const std::uint8_t> payload = f.payload();
  if (payload.size() >= ctx.settings.deflate_min_size && queue_compressed(ctx, core::opcode::text, payload))
    return;
  out_queue& q = output(ctx);
  q.append_shared(frame);
  shard_metrics::add(ctx.metrics.messages_out);
  mark_dirty(ctx, q.buffered());
}

}  // namespace shoal::gateway
