// read_text_file (see text_file.hpp).
#include "gateway/text_file.hpp"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace shoal::gateway {

bool read_text_file(const std::string& path, std::size_t max_bytes, std::string& out,
                    std::string& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = path + ": is a directory";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::error_code(errno, std::generic_category()).message();
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = path + ": cannot read";
    return false;
  }
  out = text.str();
  if (out.size() > max_bytes) {
    error = path + ": larger than " + std::to_string(max_bytes) + " bytes";
    return false;
  }
  return true;
}

}  // namespace shoal::gateway
