// load_config(): the command line of `shoal` (CLI11), layered as defaults < --config FILE < flags.
// Every setting has a flag generated from the one field list; flag values go through the same
// text parsers as the file and the final struct through the same validate().
// Main thread, at start-up and on SIGHUP. CLI11 and toml++ exceptions stop here and become fail
// results.
#include <CLI/CLI.hpp>
#include <deque>
#include <type_traits>

#include "gateway/config.hpp"
#include "gateway/config_fields.hpp"
#include "gateway/text_file.hpp"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "0.1.0-dev"
#endif

namespace shoal::gateway {
namespace {

constexpr int usage_exit_code = 2;

config_result exit_with(std::string output) {
  return {config_action::exit, {}, std::move(output), 0};
}

config_result fail_with(std::string message) {
  return {config_action::fail, {}, std::move(message) + "\n", usage_exit_code};
}

// --help as a man page does it: the flag and its default on one line, the description wrapped
// to 80 columns below, so the long descriptions stay readable in a terminal.
class wrapping_formatter : public CLI::Formatter {
 public:
  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    std::string out = "  " + make_option_name(opt, is_positional) + make_option_opts(opt) + "\n";
    constexpr std::size_t indent = 6;
    constexpr std::size_t width = 80;
    std::istringstream words(make_option_desc(opt));
    std::string line;
    for (std::string word; words >> word;) {
      if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
        out += std::string(indent, ' ') + line + "\n";
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
    }
    if (!line.empty()) out += std::string(indent, ' ') + line + "\n";
    return out;
  }
};

// A flag's raw text, captured by CLI11 and applied after the file.
struct flag_capture {
  CLI::Option* option = nullptr;
  std::string value;                // scalar settings
  std::vector<std::string> values;  // list settings: one per occurrence
};

struct command_line {
  CLI::App app{"Shoal: a WebSocket pub/sub gateway.", "shoal"};
  std::string config_path;
  bool print_config = false;
  bool version = false;
  bool permessage_deflate = false;
  std::deque<flag_capture> captures;  // one per field, in for_each_field order; stable addresses
};

void define_flags(command_line& cl) {
  auto& app = cl.app;
  app.formatter(std::make_shared<wrapping_formatter>());
  app.add_option("--config", cl.config_path,
                 "TOML file with settings (see deploy/shoal.example.toml)")
      ->type_name("FILE");
  app.add_flag("--print-config", cl.print_config,
               "Print the effective configuration as TOML and exit");
  app.add_flag("--version", cl.version, "Print the version and exit");
  app.add_flag("--permessage-deflate", cl.permessage_deflate,
               "Offer permessage-deflate (RFC 7692) on every WebSocket endpoint; sets "
               "deflate.endpoints to /echo and /ws");
  const config defaults;
  detail::for_each_field(defaults, [&](const detail::field_info& f, const auto& value) {
    using T = std::decay_t<decltype(value)>;
    auto& capture = cl.captures.emplace_back();
    if constexpr (detail::is_list<T>) {
      capture.option = app.add_option(std::string(f.flag), capture.values, std::string(f.help))
                           ->allow_extra_args(false)
                           ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    } else {
      capture.option = app.add_option(std::string(f.flag), capture.value, std::string(f.help));
    }
    capture.option->type_name(std::string(f.value_name));  // CLI11's own messages use it
    const std::string shown = f.secret ? std::string{} : detail::format_text(value);
    capture.option->option_text(std::string(f.value_name) + (detail::is_list<T> ? " ..." : "") +
                                "   [" + std::string(f.table) + "." + std::string(f.key) +
                                "; default " + (shown.empty() ? "none" : shown) + "]");
  });
  app.footer(
      "Settings: embedded defaults < --config FILE < flags; each flag names its key in the file.\n"
      "Flags marked ... may repeat and replace the file's list. Durations: 250ms, 5s, 2m, or an\n"
      "integer of milliseconds. Exit status: 0 after --help, --version, --print-config; 2 on a\n"
      "configuration error.");
}

// Overlays the captured flags on cfg. Returns "" or one line per bad flag.
std::string apply_flags(const command_line& cl, config& cfg, detail::origin_map& origins) {
  std::string errors;
  std::size_t index = 0;
  detail::for_each_field(cfg, [&](const detail::field_info& f, auto& member) {
    using T = std::decay_t<decltype(member)>;
    const auto& capture = cl.captures[index++];
    if (capture.option->count() == 0) return;
    const auto fail = [&](const std::string& text, const std::string& problem) {
      errors +=
          (errors.empty() ? "" : "\n") + std::string(f.flag) + ": \"" + text + "\": " + problem;
    };
    bool ok = true;
    if constexpr (detail::is_list<T>) {
      T items;
      for (const auto& text : capture.values) {
        if (auto problem = detail::assign_text(text, items); !problem.empty()) {
          fail(text, problem);
          ok = false;
        }
      }
      if (ok) member = std::move(items);
    } else if (auto problem = detail::assign_text(capture.value, member); !problem.empty()) {
      fail(capture.value, problem);
      ok = false;
    }
    if (ok) origins[std::string(f.table) + "." + std::string(f.key)] = std::string(f.flag);
  });
  return errors;
}

config_result load(int argc, const char* const* argv) {
  command_line cl;
  define_flags(cl);
  try {
    cl.app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return exit_with(cl.app.help());
  } catch (const CLI::ParseError& e) {
    return fail_with(std::string(e.what()) + "\nRun 'shoal --help' for the list of flags.");
  }
  if (cl.version) return exit_with("shoal " SHOAL_VERSION "\n");

  config cfg;
  detail::origin_map origins;
  if (!cl.config_path.empty()) {
    std::string error, text;
    // A config file is a few KiB; the bound only keeps a wrong path (a device, a log) out.
    if (!read_text_file(cl.config_path, 16u << 20, text, error)) return fail_with(error);
    if (error = detail::apply_toml(text, cl.config_path, cfg, origins); !error.empty()) {
      return fail_with(error);
    }
  }
  if (auto error = apply_flags(cl, cfg, origins); !error.empty()) return fail_with(error);
  if (cl.permessage_deflate) {
    cfg.deflate.endpoints = {"/echo", "/ws"};
    origins["deflate.endpoints"] = "--permessage-deflate";
  }
  if (auto error = detail::check(cfg, origins); !error.empty()) return fail_with(error);

  if (cl.print_config) {
    std::string out = "# Effective Shoal configuration: embedded defaults";
    if (!cl.config_path.empty()) out += " < " + cl.config_path;
    out += " < flags.\n";
    if (cfg.server.shards == 0) {
      out += "# shards = 0 runs " + std::to_string(resolved_shard_count(cfg.server)) +
             " shards here (one per CPU in this process's affinity mask).\n";
    }
    return exit_with(out + detail::print_toml(cfg, detail::secrets::redacted));
  }
  return {config_action::run, std::move(cfg), {}, 0};
}

}  // namespace

config_result load_config(int argc, const char* const* argv) {
  try {
    return load(argc, argv);
  } catch (const std::exception& e) {
    return fail_with(std::string("config error: ") + e.what());
  }
}

}  // namespace shoal::gateway
