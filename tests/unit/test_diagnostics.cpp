// src/config/diagnostics.hpp: where a setting came from, and the error that names it.

#include "config/diagnostics.hpp"

#include <doctest/doctest.h>

using ferry::config::ConfigError;
using ferry::config::Location;

TEST_CASE("a location names the ini file and line, or the command line") {
  CHECK(Location{"/etc/ferry/site.ini", 12}.describe() == "/etc/ferry/site.ini, line 12");
  CHECK(Location{}.describe() == "command line");
  CHECK(Location{"", 3}.describe() == "command line");
}

TEST_CASE("a ConfigError's message starts with where, and keeps where") {
  const ConfigError error(Location{"app.ini", 7}, "unknown option 'procesess'");
  CHECK(std::string(error.what()) == "app.ini, line 7: unknown option 'procesess'");
  CHECK(error.where().file == "app.ini");
  CHECK(error.where().line == 7);

  const ConfigError flag(Location{}, "--threads needs a number");
  CHECK(std::string(flag.what()) == "command line: --threads needs a number");
}
