#pragma once

// The uWSGI ini dialect, minus uWSGI's traps. Pure: text in, entries out.
//
// What it reads: `[section]` headers (only the wanted section is kept), `key = value`,
// a bare `key` (meaning true), `#` and `;` comment lines. Unlike uWSGI, an inline comment
// (` #...` or ` ;...` after a value) is stripped with a warning instead of becoming part of
// the value, and a line that holds two options (`home = /a chdir = /b`) is an error.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"

namespace ferry::config {

struct RawEntry {
  std::string key;
  std::string value;
  bool bare = false;  // `key` alone on its line
  Location where;
};

struct IniText {
  std::vector<RawEntry> entries;
  std::vector<int> inline_comment_lines;  // lines whose trailing comment was stripped
  bool section_found = false;
};

// `is_option` tells option names from free text, to spot two options pasted on one line.
IniText parse_ini(std::string_view text, const std::string& file, std::string_view section,
                  const std::function<bool(std::string_view)>& is_option);

// Splits "file.ini:section" into path and section (default "uwsgi").
std::pair<std::string, std::string> split_ini_spec(std::string_view spec);

}  // namespace ferry::config
