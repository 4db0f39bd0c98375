// Fuzz target for the PROXY protocol header parser. The first byte picks the v2 limit and a split
// point; the rest is the input. Invariants: a result is need_more, done or error; done consumes
// at most the input and, for v1, ends with CRLF; every prefix shorter than what a done result
// consumed needs more; the result on the whole input equals the result on input + extra bytes
// (the header's end never depends on what follows). A broken invariant aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/proxy_header.hpp"

using namespace shoal::core;

namespace {

#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "proxy_header_fuzz: check failed: %s (line %d)\n", #cond, __LINE__); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

bool same(const proxy_result& a, const proxy_result& b) {
  return a.status == b.status && a.consumed == b.consumed && a.error == b.error &&
         a.header.family == b.header.family && a.header.local == b.header.local &&
         a.header.source == b.header.source && a.header.destination == b.header.destination &&
         a.header.source_port == b.header.source_port &&
         a.header.destination_port == b.header.destination_port && a.header.version == b.header.version;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t v2_max = data[0] & 1 ? proxy_v2_default_max : 64;
  const std::span<const std::uint8_t> input(data + 1, size - 1);
  const proxy_result whole = parse_proxy_header(input, v2_max);
  FUZZ_CHECK(whole.status == proxy_status::need_more || whole.status == proxy_status::done ||
             whole.status == proxy_status::error);
  FUZZ_CHECK((whole.status == proxy_status::error) == (whole.error != proxy_error::none));
  if (whole.status == proxy_status::done) {
    FUZZ_CHECK(whole.consumed > 0 && whole.consumed <= input.size());
    if (whole.header.version == 1)
      FUZZ_CHECK(input[whole.consumed - 2] == '\r' && input[whole.consumed - 1] == '\n');
    const std::size_t cut = static_cast<std::size_t>(data[0] >> 1) % whole.consumed;
    FUZZ_CHECK(parse_proxy_header(input.first(cut), v2_max).status == proxy_status::need_more ||
               parse_proxy_header(input.first(cut), v2_max).status == proxy_status::error);
  }
  std::vector<std::uint8_t> longer(input.begin(), input.end());
  longer.insert(longer.end(), {'x', '\r', '\n', 0x0D});
  const proxy_result extended = parse_proxy_header(longer, v2_max);
  if (whole.status != proxy_status::need_more) FUZZ_CHECK(same(whole, extended));
  return 0;
}
