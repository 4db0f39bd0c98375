// /proc readers for --server-pid. Main thread only; each call opens, reads and closes a file.
#include "loadgen/proc_stats.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace shoal::loadgen {
namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses the unsigned decimal at the start of `s` (after spaces); advances `s` past it.
std::optional<std::uint64_t> take_number(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  std::uint64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc{}) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(res.ptr - s.data()));
  return v;
}

}  // namespace

std::optional<std::uint64_t> parse_stat_cpu_ticks(std::string_view stat) {
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  // rest begins with field 3 (state); utime is field 14, stime field 15.
  for (int field = 3; field < 14; ++field) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const auto sp = rest.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(sp);
  }
  const auto utime = take_number(rest);
  const auto stime = take_number(rest);
  if (!utime || !stime) return std::nullopt;
  return *utime + *stime;
}

std::optional<std::uint64_t> parse_status_rss_bytes(std::string_view status) {
  const auto pos = status.find("VmRSS:");
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view rest = status.substr(pos + 6);
  const auto kb = take_number(rest);
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

std::optional<double> read_cpu_seconds(int pid) {
  const auto text = slurp("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  const auto ticks = parse_stat_cpu_ticks(*text);
  const long hz = sysconf(_SC_CLK_TCK);
  if (!ticks || hz <= 0) return std::nullopt;
  return static_cast<double>(*ticks) / static_cast<double>(hz);
}

std::optional<std::uint64_t> read_rss_bytes(int pid) {
  const auto text = slurp("/proc/" + std::to_string(pid) + "/status");
  if (!text) return std::nullopt;
  return parse_status_rss_bytes(*text);
}

}  // namespace shoal::loadgen
