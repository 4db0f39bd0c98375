// Fuzz target for core/inflater (and core/deflater): inflates arbitrary bytes as permessage-deflate
// messages fed in pieces, and round-trips arbitrary bytes through deflater -> inflater.
// Input: byte 0 picks the settings, byte 1 the piece size, the rest is the data.
// Checks: the output never exceeds the limit, the same message inflates the same whole or in
// pieces (without context takeover), a shared inflater recovers after any error, and every round
// trip gives back its input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/deflater.hpp"
#include "core/inflater.hpp"

namespace {

using shoal::core::deflater;
using shoal::core::inflate_status;
using shoal::core::inflater;
using shoal::core::utf8_validator;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "inflate_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

struct outcome {
  inflate_status status;
  std::vector<std::uint8_t> out;
};

// Feeds `data` as one message in pieces of `piece` bytes.
outcome inflate_in_pieces(inflater& i, std::span<const std::uint8_t> data, std::size_t piece,
                          std::size_t limit, bool text) {
  outcome r{inflate_status::more, {}};
  utf8_validator v;
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min(piece, data.size() - pos);
    const bool last = pos + n == data.size();
    r.status = i.feed(data.subspan(pos, n), last, r.out, limit, text ? &v : nullptr);
    check(r.out.size() <= limit, "output beyond the limit");
    check(r.out.capacity() <= limit, "reserved beyond the limit");
    pos += n;
    if (last) break;
  } while (r.status == inflate_status::more);
  check(r.status != inflate_status::more, "a message that ended is not finished");
  check(i.idle(), "inflater not idle after a finished or failed message");
  return r;
}

void inflate_arbitrary(std::uint8_t ctl, std::size_t piece, std::span<const std::uint8_t> data) {
  const std::uint8_t window = static_cast<std::uint8_t>(8 + (ctl & 7));
  const bool takeover = (ctl & 8) != 0;
  const bool text = (ctl & 16) != 0;
  const std::size_t limit = (ctl & 32) != 0 ? 300 : 1u << 20;
  inflater shared({window, takeover});
  const outcome pieces = inflate_in_pieces(shared, data, piece, limit, text);
  if (!takeover) {
    // Without context takeover the result depends on the message alone, however it is split.
    inflater whole({window, false});
    const outcome w = inflate_in_pieces(whole, data, data.size() + 1, limit, text);
    check(w.status == pieces.status, "status depends on the split");
    if (w.status == inflate_status::done) check(w.out == pieces.out, "output depends on the split");
    // And the inflater is as new after any outcome.
    const outcome again = inflate_in_pieces(shared, data, piece, limit, text);
    check(again.status == pieces.status, "state leaked from the previous message");
  } else {
    // A second message on the same context must not break anything either.
    inflate_in_pieces(shared, data, piece, limit, text);
  }
}

void round_trip(std::uint8_t ctl, std::size_t piece, std::span<const std::uint8_t> data) {
  const std::uint8_t window = static_cast<std::uint8_t>(8 + (ctl & 7));
  const bool takeover = (ctl & 8) != 0;
  const std::uint8_t mem = static_cast<std::uint8_t>(1 + (piece % 9));
  const std::uint8_t level = static_cast<std::uint8_t>((ctl >> 4) % 10);
  deflater d({window, mem, level, takeover});
  inflater i({window, takeover});
  // Two messages: the first half, then all of it (with takeover the second refers to the first).
  const std::span<const std::uint8_t> messages[] = {data.first(data.size() / 2), data};
  for (std::span<const std::uint8_t> m : messages) {
    std::vector<std::uint8_t> compressed(deflater::max_compressed_size(m.size()));
    const auto n = d.compress(m, compressed);
    check(n.has_value(), "max_compressed_size was not enough");
    compressed.resize(*n);
    const outcome r = inflate_in_pieces(i, compressed, piece, m.size(), false);
    check(r.status == inflate_status::done, "round trip did not inflate");
    check(std::equal(r.out.begin(), r.out.end(), m.begin(), m.end()), "round trip changed the data");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t ctl = data[0];
  const std::size_t piece = 1 + data[1];
  const std::span<const std::uint8_t> rest(data + 2, size - 2);
  if ((ctl & 64) != 0) {
    round_trip(ctl, piece, rest);
  } else {
    inflate_arbitrary(ctl, piece, rest);
  }
  return 0;
}
