#include "config/environment.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <optional>
#include <string_view>

#include "config/options.hpp"

namespace ferry::config {
namespace {

constexpr std::string_view kPrefix = "FERRY_";

// Variables that ferry's own scripts, demo and tests read, which are not options (after
// FERRY_). A name ending in '_' is a prefix. FERRY_HANDOVER carries listening sockets
// across a re-exec (src/master/reexec.cpp); FERRY_BIN names the binary under test
// (FERRY_BIN=build/ferry reads as a misspelt `ini`); FERRY_RUN and FERRY_DEPS belong to
// conf/run-demo and .ci/install-deps; FERRY_DEMO_ to the demo project's settings.
constexpr std::array<std::string_view, 11> kNotOptions{
    "HANDOVER", "BIN", "RUN", "DEPS", "DEMO_", "TEST_", "CI_", "IT_", "HOSTILE_", "FRESH_", "UPDATE_",
};

bool reserved(std::string_view name) {
  return std::any_of(kNotOptions.begin(), kNotOptions.end(), [name](std::string_view reserved) {
    return reserved.ends_with('_') ? name.starts_with(reserved) : name == reserved;
  });
}

// PROCESSES -> processes, HARAKIRI_VERBOSE -> harakiri-verbose.
std::string option_key(std::string_view name) {
  std::string key(name);
  for (char& c : key) c = c == '_' ? '-' : static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return key;
}

// The variable that spells `key`: harakiri-verbose -> FERRY_HARAKIRI_VERBOSE.
std::string variable_name(std::string_view key) {
  std::string name(kPrefix);
  for (char c : key) name += c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return name;
}

// One-letter aliases (s, p, M) stay command-line shorthands: FERRY_S would be a riddle.
bool names_option(const std::string& key) {
  return key.size() > 1 && (find_option(key) != nullptr || !meaningless_uwsgi_option(key).empty() ||
                            !unsupported_uwsgi_option(key).empty());
}

// NAME=VALUE split after FERRY_; nothing for other variables and ferry's tools' own.
struct Entry {
  std::string_view variable;
  std::string_view name;  // after FERRY_
  std::string_view value;
};
std::optional<Entry> ferry_entry(std::string_view entry) {
  const auto eq = entry.find('=');
  if (!entry.starts_with(kPrefix) || eq == std::string_view::npos || eq == kPrefix.size()) return std::nullopt;
  const Entry out{entry.substr(0, eq), entry.substr(kPrefix.size(), eq - kPrefix.size()), entry.substr(eq + 1)};
  if (reserved(out.name)) return std::nullopt;
  return out;
}

}  // namespace

EnvironmentOptions environment_options(std::span<const std::string> environment) {
  EnvironmentOptions out;
  for (const auto& entry : environment) {
    const auto found = ferry_entry(entry);
    if (!found) continue;
    const std::string key = option_key(found->name);
    if (names_option(key)) {
      // Empty means unset, so `podman run -e FERRY_INI= ...` switches off the image's ini.
      if (!found->value.empty()) {
        out.options.push_back({std::string(found->variable), key, std::string(found->value)});
      }
      continue;
    }
    const Location where = Location::environment(std::string(found->variable));
    if (const std::string suggestion = closest_option(key); !suggestion.empty()) {
      throw ConfigError(where, fmt::format("no option is called '{}'; did you mean {}? (ferry reads FERRY_<OPTION> "
                                           "variables: the option upper-cased, '-' written '_'; ferry --help "
                                           "lists every option)",
                                           key, variable_name(suggestion)));
    }
    out.warnings.push_back(
        fmt::format("{}: not an option ('{}' is none); ignoring it (ferry --help lists every "
                    "option; FERRY_<OPTION> sets one)",
                    where.describe(), key));
  }
  std::sort(out.options.begin(), out.options.end(), [](const EnvironmentOption& a, const EnvironmentOption& b) {
    const bool a_ini = a.key == "ini";
    const bool b_ini = b.key == "ini";
    return a_ini != b_ini ? a_ini : a.variable < b.variable;
  });
  return out;
}

bool has_environment_options(std::span<const std::string> environment) {
  return std::any_of(environment.begin(), environment.end(), [](const std::string& entry) {
    const auto found = ferry_entry(entry);
    return found && !found->value.empty() && names_option(option_key(found->name));
  });
}

}  // namespace ferry::config
