#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ferry::config {

// Where a setting came from: an ini file and line, the command line (line 0), or an
// environment variable (FERRY_PROCESSES).
struct Location {
  std::string file;  // empty for the command line and the environment
  int line = 0;
  std::string variable{};  // the environment variable, when the setting came from one

  static Location environment(std::string variable_name) {
    Location where;
    where.variable = std::move(variable_name);
    return where;
  }

  std::string describe() const {
    if (!variable.empty()) return "environment variable " + variable;
    return file.empty() ? std::string("command line") : file + ", line " + std::to_string(line);
  }
};

// A configuration mistake. The message names the fix; `where` names the place.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(Location where, const std::string& message)
      : std::runtime_error(where.describe() + ": " + message), where_(std::move(where)) {}
  const Location& where() const { return where_; }

 private:
  Location where_;
};

// Warnings gathered while reading the configuration; printed once the log is open.
using Warnings = std::vector<std::string>;

}  // namespace ferry::config
