// The connection's shell (see connection.hpp): what its transport reports, input dispatched to
// the phase it is in, output queued and written once per pass, backpressure, timers, the state
// transitions, and abort(), the one place a connection ends (the shard notices through
// ctx.closed and frees it at the end of the pass).
#include "gateway/connection.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gateway/conn_user.hpp"
#include "gateway/tls_transport.hpp"

namespace shoal::gateway {

namespace {
core::http_limits http_limits_from(const connection_settings& s) {
  core::http_limits l;
  l.max_head_bytes = s.max_header_bytes;
  l.max_headers = s.max_headers;
  return l;
}
}  // namespace

// An idle connection is this object alone: 112 bytes is one mimalloc size class (at 120 it took
// the next, 128). See bench/RESULTS.md, "Memory per connection". Debug builds add the owner check.
#ifdef NDEBUG
static_assert(sizeof(void*) != 8 || sizeof(connection) <= 112, "connection grew past 112 bytes");
#endif

conn_user& connection::user() noexcept {
  static conn_user one;
  return one;
}

connection::connection(int fd, std::uint64_t token, transport_kind kind, shard_context& ctx)
    : token_(token) {
  owner_.bind();
  link_.fd = fd;
  link_.kind = kind;
  phase_started_ = last_rx_ = ping_sent_ = tick32(ctx.now);
  reschedule(ctx);
}

connection::~connection() {
  timer_wheel::cancel(wheel_node);
  delete link_.tls;  // only if the shard stops with a send in flight
}

void connection::start(shard_context& ctx) {
  if (!io_transport(ctx).open(ctx, *this)) {
    abort(ctx);
    return;
  }
  // Bytes may already be waiting (edge-triggered registration reports them too, but reading
  // now saves a pass).
  on_readable(ctx);
}

input_state& connection::input(shard_context& ctx) {
  if (!in_) {
    in_ = ctx.pools.inputs.take();
    if (!in_)
      in_ = std::make_unique<input_state>(
          http_limits_from(ctx.settings),
          core::decoder_options{core::role::server, ctx.settings.max_message_size, false});
    in_->decoder.set_rsv1_allowed(deflate_ != nullptr);  // pooled state may come from either kind
  }
  return *in_;
}

void connection::release_input(shard_context& ctx) {
  if (in_ && in_->reusable()) ctx.pools.inputs.give(std::move(in_));
}

void connection::take_output(shard_context& ctx) {
  out_ = ctx.pools.outputs.take();
  if (!out_) out_ = std::make_unique<output_state>();
}

void connection::on_readable(shard_context& ctx) {
  owner_.check();
  if (state_ == conn_state::closed || input_stopped()) return;
  if (in_ && !in_->pending.empty() && !(in_->publish && in_->publish->awaiting)) {
    process_pending(ctx);  // input read before a hold: decoded first, before anything new
    if (state_ == conn_state::closed || input_stopped()) return;
  }
  io_transport(ctx).resume_input(ctx, *this);
}

void connection::process(shard_context& ctx, std::span<std::uint8_t> bytes) {
  while (!bytes.empty() && !input_done_) {
    std::size_t used = 0;
    input_state& in = input(ctx);
    if (held_ != 0) {
      // Held (conn_hold): keep the rest of this read, undecoded, for when the hold ends. No more
      // is read meanwhile, so this is at most one read (plus receives already in flight).
      in.pending.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return;
    }
    if (in.publish && in.publish->awaiting) {
      // A pipelined request behind a publish waits for the publish's answer, bounded.
      if (in.pending.size() + bytes.size() > ctx.settings.max_header_bytes + ctx.settings.max_message_size) {
        abort(ctx);
        return;
      }
      in.pending.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return;
    }
    if (awaiting_proxy_) [[unlikely]]
      used = process_proxy(ctx, bytes);
    else if (in.publish)
      used = process_body(ctx, bytes);
    else if (state_ == conn_state::http)
      used = process_http(ctx, bytes);
    else if (state_ == conn_state::open || state_ == conn_state::closing)
      used = process_frames(ctx, bytes);
    else
      return;
    bytes = bytes.subspan(used);
  }
  release_input(ctx);  // nothing left in progress: an idle connection holds no input state
}

void connection::process_pending(shard_context& ctx) {
  // Moved out first: processing may keep bytes in `pending` again (another hold, another
  // publish to wait for).
  std::string pending;
  pending.swap(in_->pending);
  process(ctx, {reinterpret_cast<std::uint8_t*>(pending.data()), pending.size()});
}

void connection::hold_input(shard_context& ctx, conn_hold why) {
  if (held_ == 0) {
    if (!read_paused_) io_transport(ctx).pause_input(ctx, *this);
    shard_metrics::add(ctx.metrics.inputs_held);
  }
  held_ |= static_cast<std::uint8_t>(why);
}

void connection::release_hold(shard_context& ctx, conn_hold why) {
  const auto bit = static_cast<std::uint8_t>(why);
  if ((held_ & bit) == 0) return;
  held_ &= ~bit;
  if (held_ != 0 || state_ == conn_state::closed) return;
  shard_metrics::sub(ctx.metrics.inputs_held);
  // Read again next pass, the input kept at the hold first (on_readable); not from here, which
  // may be inside this connection's own input processing.
  if (!read_paused_) read_later(ctx);
}

void connection::pause_reading(shard_context& ctx) {
  read_paused_ = true;
  if (held_ == 0) io_transport(ctx).pause_input(ctx, *this);  // resumed through read_again
  shard_metrics::add(ctx.metrics.paused_reads);
}

void connection::queue_text(shard_context& ctx, std::string_view json) {
  queue_frame(ctx, core::opcode::text, {reinterpret_cast<const std::uint8_t*>(json.data()), json.size()});
}

void connection::queue_bytes(shard_context& ctx, std::string_view bytes) {
  if (bytes.empty()) return;
  std::memcpy(output(ctx).append_local(bytes.size()), bytes.data(), bytes.size());
  mark_dirty(ctx);
}

void connection::enqueue_dirty(shard_context& ctx) {
  in_dirty_list = true;
  ctx.dirty.push_back(this);
}

void connection::flush(shard_context& ctx) {
  owner_.check();
  in_dirty_list = false;
  if (state_ == conn_state::closed) return;
  const bool nothing_queued = buffered() == 0;
  io_transport(ctx).write(ctx, *this);  // what it writes comes back through on_written
  // A blocked socket is not written to, so no on_written syncs the gauge: sync it here (a write
  // that went out, or a send in flight, syncs it in on_written).
  if (link_.write_blocked && state_ != conn_state::closed) sync_buffered(ctx);
  // Nothing to write, but something to do once the output is empty (a linger, a close).
  if (nothing_queued && state_ != conn_state::closed && !link_.send_in_flight) after_write(ctx);
}

void connection::written_after_close(shard_context& ctx) {
  // A send completed after the close: free its bytes now.
  if (out_ && !link_.send_in_flight) {
    out_->queue.clear();
    sync_buffered(ctx);
    out_.reset();
  }
}

void connection::after_write(shard_context& ctx) {
  if (read_paused_ && buffered() <= ctx.settings.low_watermark) {
    read_paused_ = false;
    shard_metrics::sub(ctx.metrics.paused_reads);
    read_later(ctx);
  }
  // Below the slow-consumer limit again: release the gap notices and conflated messages held
  // back for this subscriber (written on the next pass).
  if (session_ && session_->has_held_back() && buffered() < ctx.settings.slow_consumer_limit &&
      state_ == conn_state::open)
    session_->on_drained(ctx);  // may queue more (written on the next pass)
  if (buffered() == 0 && !link_.send_in_flight) {
    release_output(ctx);  // an idle connection holds no output state
    if (after_flush_ != then::keep_open) after_flush(ctx);  // the usual case makes no call
  }
}

void connection::after_flush(shard_context& ctx) {
  switch (after_flush_) {
    case then::keep_open:
      return;
    case then::close:
      abort(ctx);
      return;
    case then::linger:
      after_flush_ = then::keep_open;
      io_transport(ctx).shutdown_write(ctx, *this);
      input_done_ = true;
      enter(ctx, conn_state::lingering);
      return;
  }
}

void connection::end_after_response(shard_context& ctx) {
  input_done_ = true;
  after_flush_ = then::linger;
  mark_dirty(ctx);
}

void connection::on_timer(shard_context& ctx) {
  owner_.check();
  const connection_settings& s = ctx.settings;
  switch (state_) {
    case conn_state::http:
      if (since(ctx, phase_started_) >= s.handshake_ticks) {
        abort(ctx);  // handshake timeout: a slow or silent client
        return;
      }
      break;
    case conn_state::open:
      on_open_timer(ctx);
      if (state_ == conn_state::closed) return;
      break;
    case conn_state::closing:
    case conn_state::lingering:
      if (since(ctx, phase_started_) >= s.close_ticks) {
        abort(ctx);  // close timeout: the peer did not finish the closing handshake
        return;
      }
      break;
    case conn_state::closed:
      return;
  }
  reschedule(ctx);
}

void connection::reschedule(shard_context& ctx) {
  const connection_settings& s = ctx.settings;
  std::uint64_t due = 0;
  switch (state_) {
    case conn_state::http:
      due = ctx.now + s.handshake_ticks - std::min<std::uint64_t>(since(ctx, phase_started_), s.handshake_ticks);
      break;
    case conn_state::open:
      due = open_due(ctx);
      if (due == ~std::uint64_t{0}) {
        timer_wheel::cancel(wheel_node);
        return;
      }
      break;
    case conn_state::closing:
    case conn_state::lingering:
      due = ctx.now + s.close_ticks - std::min<std::uint64_t>(since(ctx, phase_started_), s.close_ticks);
      break;
    case conn_state::closed:
      timer_wheel::cancel(wheel_node);
      return;
  }
  ctx.timers.schedule(wheel_node, due);
}

void connection::enter(shard_context& ctx, conn_state next) {
  if (!allowed_transition(state_, next)) [[unlikely]] {
    std::fprintf(stderr, "shoal: connection state %d -> %d is not a transition\n",
                 static_cast<int>(state_), static_cast<int>(next));
    std::abort();
  }
  state_ = next;
  phase_started_ = tick32(ctx.now);
  reschedule(ctx);
}

void connection::abort(shard_context& ctx) {
  if (state_ == conn_state::closed) return;
  if (session_) session_->leave_all(ctx);
  if (endpoint_ != endpoint::none) shard_metrics::sub(ctx.metrics.websocket_open);
  if (read_paused_) shard_metrics::sub(ctx.metrics.paused_reads);
  read_paused_ = false;
  if (held_ != 0) shard_metrics::sub(ctx.metrics.inputs_held);
  held_ = 0;
  state_ = conn_state::closed;  // before the transport's close: its callbacks see it
  if (out_ && !link_.send_in_flight) {  // else the kernel may still read it: on_written frees it
    out_->queue.clear();
    sync_buffered(ctx);
    out_.reset();
  }
  timer_wheel::cancel(wheel_node);
  io_transport(ctx).close(ctx, *this);
  shard_metrics::sub(ctx.metrics.connections_open);
  if (!admin_) ctx.server.connections.fetch_sub(1, std::memory_order_relaxed);
  ctx.closed.push_back(this);
}

}  // namespace shoal::gateway
