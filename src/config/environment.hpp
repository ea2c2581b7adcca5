#pragma once

// FERRY_<OPTION> environment variables, as uWSGI reads UWSGI_<OPTION>: FERRY_SOCKET,
// FERRY_MODULE, FERRY_PROCESSES=4 (the option upper-cased, '-' written '_'). Pure: the
// caller hands in the environment, so tests need not touch the process's own.

#include <span>
#include <string>
#include <vector>

#include "config/diagnostics.hpp"

namespace ferry::config {

struct EnvironmentOption {
  std::string variable;  // FERRY_PROCESSES
  std::string key;       // processes
  std::string value;
};

struct EnvironmentOptions {
  // FERRY_INI first (its options are the base the other variables adjust), then the rest
  // by name, so the result never depends on the order of the process environment.
  std::vector<EnvironmentOption> options;
  Warnings warnings;
};

// `environment` holds NAME=VALUE entries (as `environ` does). A variable is an option when
// its name maps to one ferry knows (or a uWSGI option ferry knows about); an empty one
// counts as unset. ferry's own tools' variables (FERRY_BIN, FERRY_DEMO_..., see the .cpp)
// are not options. Any other FERRY_ variable close to an option name is a typo: throws a
// ConfigError with the right spelling; one like no option is ignored with a warning.
EnvironmentOptions environment_options(std::span<const std::string> environment);

// Whether any entry of `environment` sets an option (ferry then needs no arguments).
bool has_environment_options(std::span<const std::string> environment);

}  // namespace ferry::config
