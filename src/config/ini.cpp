#include "config/ini.hpp"

#include <cctype>

namespace ferry::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_key_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }

bool is_valid_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!is_key_char(c)) return false;
  }
  return true;
}

// Position of an inline comment: `#` or `;` preceded by whitespace. uWSGI keeps these as
// part of the value (so `lazy-apps = false # x` turns lazy-apps on); ferry strips them.
std::size_t inline_comment_start(std::string_view value) {
  for (std::size_t i = 1; i < value.size(); ++i) {
    if ((value[i] == '#' || value[i] == ';') && std::isspace(static_cast<unsigned char>(value[i - 1]))) {
      return i;
    }
  }
  return std::string_view::npos;
}

// Finds "<option> =" after whitespace inside a value: two options pasted onto one line,
// as in `home = %(base)/venv chdir = %(base)`. Returns the second option's name.
std::string_view second_option(std::string_view value, const std::function<bool(std::string_view)>& is_option) {
  for (std::size_t i = 1; i < value.size(); ++i) {
    if (!std::isspace(static_cast<unsigned char>(value[i - 1])) || !is_key_char(value[i])) continue;
    std::size_t end = i;
    while (end < value.size() && is_key_char(value[end])) ++end;
    std::size_t eq = end;
    while (eq < value.size() && value[eq] == ' ') ++eq;
    if (eq < value.size() && value[eq] == '=' && is_option(value.substr(i, end - i))) {
      return value.substr(i, end - i);
    }
  }
  return {};
}

}  // namespace

std::pair<std::string, std::string> split_ini_spec(std::string_view spec) {
  // "app.ini:staging" picks [staging]. A colon inside a directory name is left alone.
  const auto colon = spec.rfind(':');
  if (colon != std::string_view::npos && colon + 1 < spec.size() && spec.find('/', colon) == std::string_view::npos) {
    return {std::string(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
  }
  return {std::string(spec), "uwsgi"};
}

IniText parse_ini(std::string_view text, const std::string& file, std::string_view section,
                  const std::function<bool(std::string_view)>& is_option) {
  IniText result;
  std::string_view current_section;
  bool in_any_section = false;
  int line_number = 0;

  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    const Location where{file, line_number};

    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;

    if (line.front() == '[') {
      if (line.back() != ']') {
        throw ConfigError(where, "a section header must look like [uwsgi]; got '" + std::string(line) + "'");
      }
      current_section = trim(line.substr(1, line.size() - 2));
      in_any_section = true;
      if (current_section == section) result.section_found = true;
      continue;
    }
    if (!in_any_section) {
      throw ConfigError(
          where, "'" + std::string(line) + "' comes before any [section]; put it under [" + std::string(section) + "]");
    }
    if (current_section != section) continue;

    RawEntry entry;
    entry.where = where;
    const auto eq = line.find('=');
    const std::string_view key = trim(line.substr(0, eq));
    if (!is_valid_key(key)) {
      throw ConfigError(where, "expected 'key = value' or a bare 'key', got '" + std::string(line) + "'");
    }
    entry.key = key;
    if (eq == std::string_view::npos) {
      entry.bare = true;
    } else {
      std::string_view value = trim(line.substr(eq + 1));
      if (const auto comment = inline_comment_start(value); comment != std::string_view::npos) {
        value = trim(value.substr(0, comment));
        result.inline_comment_lines.push_back(line_number);
      }
      if (const auto other = second_option(value, is_option); !other.empty()) {
        throw ConfigError(where, "this line holds two options, '" + std::string(key) + "' and '" + std::string(other) +
                                     "'; put each option on its own line (uWSGI would "
                                     "have read everything after '" +
                                     std::string(key) + " =' as one value)");
      }
      entry.value = value;
    }
    result.entries.push_back(std::move(entry));
  }
  return result;
}

}  // namespace ferry::config
