// src/config/log_format.cpp: log-format compiled once into pieces; unknown variables refused.

#include "config/log_format.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry::config;

namespace {
const Location kAt{"/etc/app.ini", 7};
}

TEST_CASE("literals and variables become pieces, adjacent literals one") {
  const auto format = compile_log_format("%(addr) \"%(method) %(uri)\" %(status) %(var.HTTP_X_ID)", kAt);
  REQUIRE(format.pieces.size() == 9);
  CHECK(format.pieces[0].var == LogVar::addr);
  CHECK(format.pieces[1].text == " \"");
  CHECK(format.pieces[2].var == LogVar::method);
  CHECK(format.pieces[4].var == LogVar::uri);
  CHECK(format.pieces[5].text == "\" ");
  CHECK(format.pieces[6].var == LogVar::status);
  CHECK(format.pieces[8].var == LogVar::var);
  CHECK(format.pieces[8].text == "HTTP_X_ID");
  CHECK_FALSE(format.uses_memory);
}

TEST_CASE("every documented variable compiles, with its name back") {
  for (std::string name :
       {"addr",  "user",   "ltime",   "time",   "epoch", "method", "uri",  "proto", "status", "size",
        "msecs", "micros", "referer", "uagent", "host",  "pid",    "wid",  "rss",   "vsz",    "headers",
        "hsize", "cl",     "rsize",   "secs",   "ctime", "core",   "rssM", "vszM",  "vars",   "pktsize"}) {
    const auto format = compile_log_format("%(" + name + ")", kAt);
    REQUIRE(format.pieces.size() == 1);
    CHECK(log_var_name(format.pieces[0].var) == name);
  }
}

TEST_CASE("memory variables are noted, so the worker reads statm only for them") {
  CHECK(compile_log_format("%(rss)", kAt).uses_memory);
  CHECK(compile_log_format("x %(vszM)", kAt).uses_memory);
}

TEST_CASE("a literal with % is marked for logformat-strftime") {
  const auto format = compile_log_format("[%Y-%m-%d] %(uri) done", kAt);
  CHECK(format.pieces[0].has_percent);
  CHECK_FALSE(format.pieces[2].has_percent);
}

TEST_CASE("an unknown variable names itself, the place and the valid ones") {
  try {
    compile_log_format("%(method) %(bogus)", kAt);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    CHECK(message.find("/etc/app.ini, line 7") != std::string::npos);
    CHECK(message.find("%(bogus)") != std::string::npos);
    CHECK(message.find("%(msecs)") != std::string::npos);
    CHECK(message.find("%(var.NAME)") != std::string::npos);
  }
}

TEST_CASE("an unclosed %( and an empty format are errors") {
  CHECK_THROWS_AS(compile_log_format("%(uri", kAt), ConfigError);
  CHECK_THROWS_AS(compile_log_format("", kAt), ConfigError);
  CHECK_THROWS_AS(compile_log_format("%(var.)", kAt), ConfigError);
}

TEST_CASE("client variables are the ones escaped") {
  CHECK(log_var_from_client(LogVar::uri));
  CHECK(log_var_from_client(LogVar::var));
  CHECK_FALSE(log_var_from_client(LogVar::status));
}
