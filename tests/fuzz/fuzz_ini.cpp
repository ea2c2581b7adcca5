// Fuzzes src/config/ini.cpp with arbitrary text, and feeds what it reads through the option
// parsers of src/config/options.cpp as the loader would. A ConfigError is the expected way
// to refuse bad input; any other exception, or a crash, is a bug.

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "config/ini.hpp"
#include "config/options.hpp"

using namespace ferry::config;

namespace {

void require(bool ok, const char* invariant) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_ini: invariant broken: %s\n", invariant);
    std::abort();
  }
}

bool is_option(std::string_view name) { return find_option(name) != nullptr; }

bool trimmed(std::string_view s) {
  return s.empty() ||
         (!std::isspace(static_cast<unsigned char>(s.front())) && !std::isspace(static_cast<unsigned char>(s.back())));
}

void check(const IniText& ini, int lines) {
  int previous_line = 0;
  for (const auto& entry : ini.entries) {
    require(!entry.key.empty() && trimmed(entry.key), "keys are non-empty and trimmed");
    require(trimmed(entry.value), "values are trimmed");
    require(!entry.bare || entry.value.empty(), "a bare key has no value");
    require(entry.where.line > previous_line && entry.where.line <= lines, "entries are in line order");
    previous_line = entry.where.line;
  }
  require(ini.entries.empty() || ini.section_found, "entries only come from the wanted section");
}

// Each entry through its option's parser, into one Config, as the loader applies them.
void apply(const IniText& ini) {
  Config config;
  Warnings warnings;
  for (const auto& entry : ini.entries) {
    const Option* option = find_option(entry.key);
    if (option == nullptr || option->apply == nullptr) continue;
    try {
      option->apply(config, entry.bare ? "true" : entry.value, entry.where, warnings);
    } catch (const ConfigError& e) {
      require(e.where().line == entry.where.line, "an option's error names its line");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  int lines = 1;
  for (char c : text) lines += c == '\n';

  try {
    const IniText ini = parse_ini(text, "fuzz.ini", "uwsgi", is_option);
    check(ini, lines);
    apply(ini);
  } catch (const ConfigError& e) {
    require(e.where().file == "fuzz.ini", "errors name the file");
    require(e.where().line >= 1 && e.where().line <= lines, "errors name a line of the file");
  }

  const auto [path, section] = split_ini_spec(text);
  require((path == text && section == "uwsgi") || path + ":" + section == text, "FILE:SECTION splits losslessly");
  return 0;
}
