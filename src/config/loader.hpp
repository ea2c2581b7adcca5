#pragma once

// Turns the command line (and the ini files it names, and the files they include) into a
// checked Config. Reads files; nothing else touches the system.

#include <span>
#include <string>

#include "config/config.hpp"

namespace ferry::config {

struct Loaded {
  Config config;
  Warnings warnings;
};

// `arguments` excludes argv[0]. A bare argument is an ini file (`ferry app.ini` is
// `ferry --ini app.ini`). `environment` holds NAME=VALUE entries: its FERRY_<OPTION>
// variables are read before the arguments (config/environment.hpp). Throws ConfigError
// naming the file, line (or variable) and fix.
Loaded load(std::span<const std::string> arguments, std::span<const std::string> environment = {});

}  // namespace ferry::config
