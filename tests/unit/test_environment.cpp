// src/config/environment.cpp: FERRY_<OPTION> variables -> options, typos refused.

#include "config/environment.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ferry::config;

namespace {

EnvironmentOptions read(std::vector<std::string> environment) { return environment_options(environment); }

std::string error_of(std::vector<std::string> environment) {
  try {
    read(std::move(environment));
  } catch (const ConfigError& e) {
    CHECK(!e.where().variable.empty());
    return e.what();
  }
  FAIL("expected a ConfigError");
  return {};
}

}  // namespace

TEST_CASE("an option's name upper-cased, '-' written '_', after FERRY_") {
  const auto read_back = read({"FERRY_PROCESSES=4", "FERRY_HARAKIRI_VERBOSE=true", "PATH=/usr/bin"});
  REQUIRE(read_back.options.size() == 2);
  CHECK(read_back.options[0].variable == "FERRY_HARAKIRI_VERBOSE");
  CHECK(read_back.options[0].key == "harakiri-verbose");
  CHECK(read_back.options[0].value == "true");
  CHECK(read_back.options[1].key == "processes");
  CHECK(read_back.options[1].value == "4");
  CHECK(read_back.warnings.empty());
}

TEST_CASE("FERRY_INI comes first, the rest by name, whatever the environment's order") {
  const auto read_back = read({"FERRY_SOCKET=/run/a.sock", "FERRY_MODULE=app:application", "FERRY_INI=/etc/f.ini"});
  REQUIRE(read_back.options.size() == 3);
  CHECK(read_back.options[0].key == "ini");
  CHECK(read_back.options[1].key == "module");
  CHECK(read_back.options[2].key == "socket");
}

TEST_CASE("a value keeps its '=' and spaces") {
  const auto read_back = read({"FERRY_ENV=DJANGO_SETTINGS_MODULE=site.settings x"});
  REQUIRE(read_back.options.size() == 1);
  CHECK(read_back.options[0].value == "DJANGO_SETTINGS_MODULE=site.settings x");
}

TEST_CASE("an empty variable counts as unset") {
  CHECK(read({"FERRY_INI=", "FERRY_PROCESSES="}).options.empty());
  CHECK_FALSE(has_environment_options(std::vector<std::string>{"FERRY_INI="}));
}

TEST_CASE("ferry's own tools' variables are not options, even where they look like one") {
  // FERRY_BIN is one edit from 'ini'; FERRY_DEMO_DB and FERRY_RUN belong to the demo.
  const std::vector<std::string> tools{"FERRY_BIN=build/ferry", "FERRY_RUN=/tmp/run",        "FERRY_DEMO_DB=mysql",
                                       "FERRY_HANDOVER=3,4",    "FERRY_CI_CACHE=/var/cache", "FERRY_TEST_APP_DIR=/x"};
  const auto read_back = read(tools);
  CHECK(read_back.options.empty());
  CHECK(read_back.warnings.empty());
  CHECK_FALSE(has_environment_options(tools));
}

TEST_CASE("a misspelt option is an error that names the right variable") {
  const auto message = error_of({"FERRY_PROCESES=4"});
  CHECK(message.find("environment variable FERRY_PROCESES") != std::string::npos);
  CHECK(message.find("did you mean FERRY_PROCESSES?") != std::string::npos);
  CHECK(error_of({"FERRY_WORKER_RELOAD_MERCI=5"}).find("FERRY_WORKER_RELOAD_MERCY") != std::string::npos);
}

TEST_CASE("a variable like no option is ignored with a warning") {
  const auto read_back = read({"FERRY_FAVOURITE_COLOUR=blue"});
  CHECK(read_back.options.empty());
  REQUIRE(read_back.warnings.size() == 1);
  CHECK(read_back.warnings[0].find("FERRY_FAVOURITE_COLOUR") != std::string::npos);
}

TEST_CASE("one-letter aliases are not variables; uWSGI options ferry knows about are") {
  // FERRY_S is no socket: it is reported like any name that is not an option.
  CHECK(read({"FERRY_S=/run/a.sock"}).options.empty());
  const auto read_back = read({"FERRY_PLUGINS=python3"});
  REQUIRE(read_back.options.size() == 1);
  CHECK(read_back.options[0].key == "plugins");
}

TEST_CASE("has_environment_options: whether ferry may start without arguments") {
  CHECK(has_environment_options(std::vector<std::string>{"HOME=/root", "FERRY_MODULE=app:application"}));
  CHECK_FALSE(has_environment_options(std::vector<std::string>{"HOME=/root", "FERRY_BIN=ferry"}));
}
