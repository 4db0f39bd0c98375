// UTF-8 validation entry points and their run-time dispatch (see utf8.hpp).
#include "core/utf8.hpp"

#include <cstring>

#include "core/utf8_dfa.hpp"

namespace shoal::core {

bool utf8_validator::feed(const std::uint8_t* data, std::size_t n) noexcept {
  std::uint8_t s = state_;
  std::size_t i = 0;
  while (i < n && s != utf8_dfa::failed) {
    if (s == utf8_dfa::boundary) {
      // ASCII fast path, 8 bytes at a time.
      while (i + 8 <= n) {
        std::uint64_t w;
        std::memcpy(&w, data + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i >= n) break;
    }
    s = utf8_dfa::step(s, data[i++]);
  }
  state_ = s;
  return s != utf8_dfa::failed;
}

bool validate_utf8(const std::uint8_t* data, std::size_t n) noexcept {
  utf8_validator v;
  return v.feed(data, n) && v.complete();
}

bool unmask_validate_utf8(std::uint8_t* data, std::size_t n, mask_key key, unsigned& phase,
                          utf8_validator& validator) noexcept {
  phase = unmask(data, n, key, phase);
  return validator.feed(data, n);
}

const char* utf8_kernel_name() noexcept { return "scalar"; }

}  // namespace shoal::core
