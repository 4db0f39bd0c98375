// The TOML side of the configuration: reading a document over a config (toml++; unknown tables
// and keys are errors, with a suggestion) and printing a config back as TOML.
// Main thread, start-up only. toml++ exceptions are caught here and become messages that start
// with "FILE:LINE:COLUMN:"; values are checked by the shared parsers, rules by validate().
#include <toml++/toml.h>

#include <algorithm>
#include <sstream>

#include "gateway/config.hpp"
#include "gateway/config_fields.hpp"

namespace shoal::gateway {
namespace detail {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A TOML basic string; the values that reach here are ASCII after validation, and any other
// byte is passed through (toml++ rejects invalid UTF-8 on the way back in).
std::string toml_string(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

template <count_type T>
std::string toml_value(T v) {
  return std::to_string(v);
}
std::string toml_value(bool v) { return v ? "true" : "false"; }
template <class T>
requires(!count_type<T> && !is_list<T>) std::string toml_value(const T& v) {
  return toml_string(format_text(v));
}
std::string toml_value(const std::vector<listen_address>& v) {
  std::string out = "[";
  for (const auto& a : v) {
    out += (out.size() > 1 ? ", " : "") + toml_string(format_listen_address(a));
  }
  return out + "]";
}
std::string toml_value(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + toml_string(s);
  return out + "]";
}

std::string position(std::string_view source_name, const toml::source_region& where) {
  return std::string(source_name) + ":" + std::to_string(where.begin.line) + ":" +
         std::to_string(where.begin.column);
}

std::string type_name(const toml::node& node) {
  std::ostringstream os;
  os << node.type();
  return os.str();
}

// Reads one document's tables over a config, collecting every problem.
class toml_reader {
 public:
  toml_reader(std::string_view source_name, config& cfg, origin_map& origins)
      : source_name_(source_name), cfg_(cfg), origins_(origins) {}

  void read(const toml::table& root) {
    for (const auto& entry : root) {
      const auto& table_key = entry.first;
      const auto& table_node = entry.second;
      const auto name = table_key.str();
      if (!is_table_name(name)) {
        fail(table_key.source(),
             "unknown " + std::string(table_node.is_table() ? "table [" : "key \"") +
                 std::string(name) + (table_node.is_table() ? "]" : "\"") + suggestion(name, {}));
      } else if (const auto* table = table_node.as_table(); table == nullptr) {
        fail(table_node.source(),
             std::string(name) + ": expected a table [" + std::string(name) + "]");
      } else {
        read_table(name, *table);
      }
    }
  }

  // Every problem, one per line, in the order they appear in the file.
  std::string errors() && {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out;
    for (const auto& e : errors_) out += (out.empty() ? "" : "\n") + e.second;
    return out;
  }

 private:
  bool is_table_name(std::string_view name) const {
    bool found = false;
    for_each_field(std::as_const(cfg_),
                   [&](const field_info& f, const auto&) { found |= f.table == name; });
    return found;
  }

  void read_table(std::string_view table_name, const toml::table& table) {
    for (const auto& entry : table) {
      const auto& key = entry.first;
      const auto& node = entry.second;
      bool found = false;
      for_each_field(cfg_, [&](const field_info& f, auto& member) {
        if (f.table != table_name || f.key != key.str()) return;
        found = true;
        const std::string full_key = std::string(f.table) + "." + std::string(f.key);
        if (read_value(full_key, node, member)) {
          origins_[full_key] = position(source_name_, node.source());
        }
      });
      if (!found) {
        const std::string full = std::string(table_name) + "." + std::string(key.str());
        fail(key.source(), "unknown key \"" + full + "\"" + suggestion(key.str(), table_name));
      }
    }
  }

  // " (did you mean limits.max_message_size?)", or "" when nothing is close.
  std::string suggestion(std::string_view key, std::string_view table_name) const {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(1, key.size() / 3) + 1;  // exclusive
    for_each_field(std::as_const(cfg_), [&](const field_info& f, const auto&) {
      const auto candidate = table_name.empty() ? f.table : f.key;
      const std::size_t d =
          edit_distance(key, candidate) + (table_name.empty() || f.table == table_name ? 0 : 1);
      if (d < best_distance) {
        best_distance = d;
        best = table_name.empty() ? "[" + std::string(f.table) + "]"
                                  : std::string(f.table) + "." + std::string(f.key);
      }
    });
    return best.empty() ? std::string{} : " (did you mean " + best + "?)";
  }

  void fail(const toml::source_region& where, const std::string& message) {
    errors_.emplace_back(std::pair{where.begin.line, where.begin.column},
                         position(source_name_, where) + ": " + message);
  }

  bool fail_value(const std::string& key, const toml::node& node, const std::string& problem) {
    fail(node.source(), key + ": " + problem);
    return false;
  }

  bool wrong_type(const std::string& key, const toml::node& node, std::string_view expected) {
    return fail_value(key, node, "expected " + std::string(expected) + ", got " + type_name(node));
  }

  template <class T>
  bool assign(const std::string& key, const toml::node& node, std::string_view text, T& out) {
    auto problem = assign_text(text, out);
    return problem.empty() || fail_value(key, node, "\"" + std::string(text) + "\": " + problem);
  }

  template <count_type T>
  bool read_value(const std::string& key, const toml::node& node, T& out) {
    const auto* v = node.as_integer();
    if (v == nullptr) return wrong_type(key, node, "an integer");
    if (v->get() < 0)
      return fail_value(key, node, "must not be negative, got " + std::to_string(v->get()));
    auto problem = assign_text(std::to_string(v->get()), out);
    return problem.empty() || fail_value(key, node, problem + ", got " + std::to_string(v->get()));
  }

  bool read_value(const std::string& key, const toml::node& node, bool& out) {
    const auto* v = node.as_boolean();
    if (v == nullptr) return wrong_type(key, node, "true or false");
    out = v->get();
    return true;
  }

  bool read_value(const std::string& key, const toml::node& node, std::chrono::milliseconds& out) {
    if (const auto* v = node.as_integer()) {
      if (v->get() < 0)
        return fail_value(key, node, "must not be negative, got " + std::to_string(v->get()));
      out = std::chrono::milliseconds{v->get()};
      return true;
    }
    if (const auto* s = node.as_string()) return assign(key, node, s->get(), out);
    return wrong_type(key, node, "a duration (\"5s\", \"250ms\", \"2m\" or integer milliseconds)");
  }

  template <class T>
  requires(!count_type<T> && !is_list<T>) bool read_value(const std::string& key,
                                                          const toml::node& node, T& out) {
    const auto* s = node.as_string();
    if (s == nullptr) return wrong_type(key, node, "a string");
    return assign(key, node, s->get(), out);
  }

  template <class T>
  bool read_value(const std::string& key, const toml::node& node, std::vector<T>& out) {
    const auto* array = node.as_array();
    if (array == nullptr) return wrong_type(key, node, "an array of strings");
    std::vector<T> items;  // the file's list replaces the default
    bool ok = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = *array->get(i);
      const std::string element_key = key + "[" + std::to_string(i) + "]";
      if (const auto* s = element.as_string()) {
        ok = assign(element_key, element, s->get(), items) && ok;
      } else {
        ok = wrong_type(element_key, element, "a string") && ok;
      }
    }
    if (ok) out = std::move(items);
    return ok;
  }

  std::string_view source_name_;
  config& cfg_;
  origin_map& origins_;
  std::vector<std::pair<std::pair<toml::source_index, toml::source_index>, std::string>> errors_;
};

}  // namespace

std::string apply_toml(std::string_view toml, std::string_view source_name, config& cfg,
                       origin_map& origins) {
  toml::table root;
  try {
    root = toml::parse(toml, source_name);
  } catch (const toml::parse_error& e) {
    return position(source_name, e.source()) + ": parse error: " + std::string(e.description());
  }
  toml_reader reader(source_name, cfg, origins);
  reader.read(root);
  return std::move(reader).errors();
}

std::string print_toml(const config& cfg, secrets mode) {
  std::string out;
  std::string_view table;
  for_each_field(cfg, [&](const field_info& f, const auto& value) {
    if (f.table != table) {
      out += (table.empty() ? "[" : "\n[") + std::string(f.table) + "]\n";
      table = f.table;
    }
    const std::string text = toml_value(value);
    if (f.secret && mode == secrets::redacted && text != "\"\"") {
      out += "# " + std::string(f.key) + " is set but not printed\n";
    } else {
      out += std::string(f.key) + " = " + text + "\n";
    }
  });
  return out;
}

}  // namespace detail

std::string print_config(const config& cfg) {
  return detail::print_toml(cfg, detail::secrets::shown);
}

config_result parse_config_text(std::string_view toml, std::string_view source_name,
                                const config& base) {
  config_result result{config_action::run, base, {}, 0};
  detail::origin_map origins;
  try {
    result.output = detail::apply_toml(toml, source_name, result.settings, origins);
    if (result.output.empty()) result.output = detail::check(result.settings, origins);
  } catch (const std::exception& e) {
    result.output = std::string("config error: ") + e.what();
  }
  if (!result.output.empty()) {
    result.action = config_action::fail;
    result.output += '\n';
    result.exit_code = 2;
  }
  return result;
}

}  // namespace shoal::gateway
