// Reading a whole configuration-side file (the TOML config, JWT key files) into memory, with a
// size bound and an error that names the path and the cause. Main thread, at start-up and on
// SIGHUP; never on the data path.
#pragma once

#include <cstddef>
#include <string>

namespace shoal::gateway {

// True with the file's bytes in `out`; false with `error` set ("PATH: is a directory", "PATH:
// cannot open: <reason>", "PATH: cannot read", "PATH: larger than N bytes").
bool read_text_file(const std::string& path, std::size_t max_bytes, std::string& out,
                    std::string& error);

}  // namespace shoal::gateway
