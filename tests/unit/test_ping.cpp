// src/master/ping.cpp: the --ping arguments and the judging of an answer (the socket work
// is tested against real servers in tests/integration/test_ping.py).

#include "master/ping.hpp"

#include <doctest/doctest.h>

#include <string>

#include "protocol/uwsgi.hpp"

using ferry::master::judge_pong;
using ferry::master::parse_ping_args;
using ferry::master::wants_ping;

TEST_CASE("--ping is spotted in any position, with a space or an equals sign") {
  CHECK(wants_ping({"--ping", "/run/app.sock"}));
  CHECK(wants_ping({"--ping-timeout", "1", "--ping", "/run/app.sock"}));
  CHECK(wants_ping({"--ping=:3031"}));
  CHECK_FALSE(wants_ping({"--ping-timeout", "1"}));
  CHECK_FALSE(wants_ping({"app.ini"}));
}

TEST_CASE("the address and the timeout, in either order and either spelling") {
  std::string error;
  auto request = parse_ping_args({"--ping", "/run/app.sock"}, error);
  REQUIRE(request);
  CHECK(request->address == "/run/app.sock");
  CHECK(request->timeout.count() == 3000);

  request = parse_ping_args({"--ping-timeout=0.25", "--ping=127.0.0.1:3031"}, error);
  REQUIRE(request);
  CHECK(request->address == "127.0.0.1:3031");
  CHECK(request->timeout.count() == 250);

  request = parse_ping_args({"--ping", ":3031", "--ping-timeout", "10"}, error);
  REQUIRE(request);
  CHECK(request->timeout.count() == 10000);
}

TEST_CASE("bad --ping arguments are refused with what to write instead") {
  std::string error;
  CHECK_FALSE(parse_ping_args({"--ping"}, error));
  CHECK(error == "--ping needs a value");
  CHECK_FALSE(parse_ping_args({"--ping="}, error));
  CHECK(error.find("a Unix socket path or host:port") != std::string::npos);
  for (const char* bad : {"0", "-1", "abc", "3s", "", "1e9", "nan"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ping_args({"--ping", "/s", "--ping-timeout", bad}, error));
    CHECK(error.find("--ping-timeout '" + std::string(bad) + "' is not a number of seconds") == 0);
  }
  CHECK_FALSE(parse_ping_args({"--ping", "/s", "--processes", "2"}, error));
  CHECK(error.find("'--processes'") != std::string::npos);
  CHECK_FALSE(parse_ping_args({"--ping-timeout", "2", "--ping"}, error));
}

TEST_CASE("only a pong header is a pong; anything else says what it was") {
  CHECK(judge_pong(std::string_view(ferry::protocol::kPong, 4)).empty());
  // uWSGI may put data after the pong's header; the header is what counts.
  CHECK(judge_pong(std::string("\x64\x05\x00\x01", 4)).empty());

  CHECK(judge_pong("").find("closed without an answer") != std::string::npos);
  CHECK(judge_pong(std::string("\x64\x00", 2)).find("after 2 byte(s) (64 00)") != std::string::npos);
  CHECK(judge_pong("HTTP").find("http socket") != std::string::npos);
  CHECK(judge_pong(std::string("\x64\x00\x00\x00", 4)) == "the answer (64 00 00 00) is not a uwsgi pong (64 00 00 01)");
  CHECK(judge_pong(std::string("\x00\x00\x00\x01", 4)).find("not a uwsgi pong") != std::string::npos);
}
