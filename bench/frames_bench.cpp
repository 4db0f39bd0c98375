// Benchmarks of the frame codec (core/frame_decoder, core/frame_encoder): decoding streams of
// masked frames as a server receives them, with a memcpy of the same bytes as the baseline, and
// encoding headers and whole frames. Single-threaded. Payloads are ASCII and the masking key's
// bytes are below 0x80, so a buffer stays valid text whether or not it was unmasked already
// (each pass unmasks in place, flipping it), and no pass has to restore it.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "core/frame_decoder.hpp"
#include "core/frame_encoder.hpp"

namespace shoal::core {
namespace {

constexpr std::size_t frames_per_buffer = 4096;

std::vector<std::uint8_t> masked_frames(std::size_t payload_size, opcode op) {
  const mask_key key{0x1d, 0x72, 0x05, 0x6b};
  std::vector<std::uint8_t> wire;
  std::uint8_t header[max_frame_header];
  for (std::size_t f = 0; f < frames_per_buffer; ++f) {
    const std::size_t n = encode_frame_header(header, op, payload_size, true, false, &key);
    wire.insert(wire.end(), header, header + n);
    for (std::size_t i = 0; i < payload_size; ++i) {
      const auto c = static_cast<std::uint8_t>('a' + (f + i) % 26);
      wire.push_back(static_cast<std::uint8_t>(c ^ key[i % 4]));
    }
  }
  return wire;
}

void decode_frames(benchmark::State& state, opcode op) {
  const auto payload_size = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> wire = masked_frames(payload_size, op);
  for (auto _ : state) {
    frame_decoder dec;
    std::span<std::uint8_t> rest(wire);
    std::size_t messages = 0;
    for (;;) {
      const decode_event ev = dec.next(rest);
      if (ev.status != decode_status::data) break;  // need_more at the end of the buffer
      benchmark::DoNotOptimize(ev.payload.data());
      messages += ev.last;
      rest = rest.subspan(ev.consumed);
    }
    if (messages != frames_per_buffer) {
      state.SkipWithError("decoder did not return every frame");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * frames_per_buffer));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

// Many small masked text frames in one buffer, decoded until need_more: header parse, unmask
// and UTF-8 validation per frame. items/s is frames/s.
void BM_Decode_SmallFrames(benchmark::State& state) {
  decode_frames(state, opcode::text);
  state.SetLabel("masked text frames, server role, frames/s");
}
BENCHMARK(BM_Decode_SmallFrames)->Arg(20)->Arg(4)->Arg(64)->Arg(125)->Arg(1024);

// The same frames as binary: no UTF-8 validation.
void BM_Decode_BinaryFrames(benchmark::State& state) {
  decode_frames(state, opcode::binary);
  state.SetLabel("masked binary frames, server role, frames/s");
}
BENCHMARK(BM_Decode_BinaryFrames)->Arg(20)->Arg(1024);

// Baseline: copying the same buffer once, the least any decoder that reads it must pay.
void BM_Decode_MemcpyBaseline(benchmark::State& state) {
  const auto payload_size = static_cast<std::size_t>(state.range(0));
  const std::vector<std::uint8_t> wire = masked_frames(payload_size, opcode::text);
  std::vector<std::uint8_t> copy(wire.size());
  for (auto _ : state) {
    std::memcpy(copy.data(), wire.data(), wire.size());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * frames_per_buffer));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
  state.SetLabel("memcpy of the same buffer, frames/s");
}
BENCHMARK(BM_Decode_MemcpyBaseline)->Arg(20)->Arg(1024);

// A server frame header, as a broadcast encodes it once per message.
void BM_Encode_ServerFrame(benchmark::State& state) {
  const auto payload_size = static_cast<std::uint64_t>(state.range(0));
  std::uint8_t header[max_frame_header];
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        encode_frame_header(header, opcode::text, payload_size, true, false, nullptr));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel("headers/s");
}
BENCHMARK(BM_Encode_ServerFrame)->Arg(20)->Arg(1024);

// A whole client frame (header, copy, mask with a fresh random key), as loadgen sends it.
void BM_Encode_ClientFrame(benchmark::State& state) {
  const std::vector<std::uint8_t> payload(static_cast<std::size_t>(state.range(0)), 'x');
  frame_encoder enc(role::client);
  std::vector<std::uint8_t> out;
  out.reserve(payload.size() + max_frame_header);
  for (auto _ : state) {
    out.clear();
    enc.append_frame(out, opcode::text, payload);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
  state.SetLabel("frames/s");
}
BENCHMARK(BM_Encode_ClientFrame)->Arg(20)->Arg(1024);

}  // namespace
}  // namespace shoal::core
