// src/protocol/cgi.cpp: the vars ferry reads itself, their defaults, and percent-decoding.

#include "protocol/cgi.hpp"

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>

using namespace ferry::protocol;

namespace {

// Holds the encoded bytes the parsed views point into.
struct Parsed {
  std::string bytes;
  Packet packet;

  explicit Parsed(std::initializer_list<std::pair<std::string, std::string>> vars) : bytes(encode_packet(vars)) {
    REQUIRE(parse_packet(bytes, kMaxVarsSize, packet).status == Status::complete);
  }
};

}  // namespace

TEST_CASE("request_facts: the defaults when nginx sends no uwsgi_params") {
  const Parsed parsed({{"HTTP_HOST", "example.org"}});
  const auto facts = request_facts(parsed.packet);
  CHECK(facts.method == "GET");
  CHECK(facts.uri == "/");
  CHECK(facts.protocol == "HTTP/1.1");
  CHECK(facts.remote_addr == "");
  CHECK(facts.remote_user == "");
  CHECK(facts.content_length == "");
}

TEST_CASE("request_facts: reads what uwsgi_params sends") {
  const Parsed parsed({{"REQUEST_METHOD", "POST"},
                       {"REQUEST_URI", "/a%20b?x=1"},
                       {"PATH_INFO", "/a b"},
                       {"SERVER_PROTOCOL", "HTTP/1.0"},
                       {"REMOTE_ADDR", "10.0.0.7"},
                       {"REMOTE_USER", "alice"},
                       {"CONTENT_LENGTH", "12"}});
  const auto facts = request_facts(parsed.packet);
  CHECK(facts.method == "POST");
  CHECK(facts.uri == "/a%20b?x=1");
  CHECK(facts.protocol == "HTTP/1.0");
  CHECK(facts.remote_addr == "10.0.0.7");
  CHECK(facts.remote_user == "alice");
  CHECK(facts.content_length == "12");
}

TEST_CASE("request_facts: PATH_INFO stands in for a missing REQUEST_URI") {
  const Parsed parsed({{"PATH_INFO", "/only/path"}});
  CHECK(request_facts(parsed.packet).uri == "/only/path");
}

TEST_CASE("request_facts: empty values fall back to the defaults") {
  const Parsed parsed({{"REQUEST_METHOD", ""}, {"REQUEST_URI", ""}, {"PATH_INFO", ""}, {"SERVER_PROTOCOL", ""}});
  const auto facts = request_facts(parsed.packet);
  CHECK(facts.method == "GET");
  CHECK(facts.uri == "/");
  CHECK(facts.protocol == "HTTP/1.1");
}

TEST_CASE("request_facts: names that only share a first letter are ignored") {
  const Parsed parsed({{"R", "x"}, {"REQUEST_METHODX", "PUT"}, {"SERVER_NAME", "s"}, {"CONTENT_TYPE", "t"}});
  const auto facts = request_facts(parsed.packet);
  CHECK(facts.method == "GET");
  CHECK(facts.protocol == "HTTP/1.1");
  CHECK(facts.content_length == "");
}

TEST_CASE("percent_decode: valid escapes, either case") {
  CHECK(percent_decode("a%20b") == "a b");
  CHECK(percent_decode("%41%42") == "AB");
  CHECK(percent_decode("%2f%2F") == "//");
  CHECK(percent_decode("%e2%82%ac") == "\xe2\x82\xac");
  CHECK(percent_decode("%00") == std::string(1, '\0'));
  CHECK(percent_decode("a+b") == "a+b");  // '+' is a space only in forms, not in paths
  CHECK(percent_decode("") == "");
}

TEST_CASE("percent_decode: invalid or truncated escapes are kept as they are") {
  CHECK(percent_decode("%") == "%");
  CHECK(percent_decode("100%") == "100%");
  CHECK(percent_decode("%4") == "%4");
  CHECK(percent_decode("a%4") == "a%4");
  CHECK(percent_decode("%zz") == "%zz");
  CHECK(percent_decode("%4g") == "%4g");
  CHECK(percent_decode("%g4") == "%g4");
  CHECK(percent_decode("%%41") == "%A");
}

TEST_CASE("percent_decode says whether each % started two hex digits") {
  const auto valid = [](std::string_view text) {
    bool all_valid = false;
    percent_decode(text, &all_valid);
    return all_valid;
  };
  CHECK(valid(""));
  CHECK(valid("/a/b"));
  CHECK(valid("/a%20b%2F%2e%C3%A9"));
  CHECK(valid("%25%25"));
  CHECK_FALSE(valid("/a%zz"));
  CHECK_FALSE(valid("/a%"));
  CHECK_FALSE(valid("/a%2"));
  CHECK_FALSE(valid("/a%2g"));
  CHECK_FALSE(valid("/a%%20"));
  CHECK_FALSE(valid("/a%20%"));
}

TEST_CASE("normalize_path makes what nginx puts in $uri") {
  auto normal = [](std::string_view path) {
    const char* why = nullptr;
    std::string out = ferry::protocol::normalize_path(std::string(path), &why);
    CHECK(why == nullptr);
    return out;
  };
  CHECK(normal("/") == "/");
  CHECK(normal("/a/b") == "/a/b");
  CHECK(normal("/a/b/") == "/a/b/");
  CHECK(normal("//a///b//") == "/a/b/");
  CHECK(normal("/a/./b") == "/a/b");
  CHECK(normal("/a/.") == "/a/");
  CHECK(normal("/.") == "/");
  CHECK(normal("/a/b/../c") == "/a/c");
  CHECK(normal("/a/b/..") == "/a/");
  CHECK(normal("/a/..") == "/");
  CHECK(normal("/a/../b/./c/../d") == "/b/d");
  CHECK(normal("/.../..a/a..") == "/.../..a/a..");      // only whole "." and ".." segments count
  CHECK(normal("/static/%2e%2e") == "/static/%2e%2e");  // decoding comes first, not here
  CHECK(normal("/caf\xc3\xa9/x y") == "/caf\xc3\xa9/x y");

  auto refused = [](std::string_view path) {
    const char* why = nullptr;
    CHECK(ferry::protocol::normalize_path(std::string(path), &why).empty());
    REQUIRE(why != nullptr);
    return std::string(why);
  };
  CHECK(refused("/..") == "a \"..\" segment above the root of the request path");
  CHECK(refused("/a/../..") == "a \"..\" segment above the root of the request path");
  CHECK(refused("/../etc/passwd") == "a \"..\" segment above the root of the request path");
  CHECK(refused(std::string_view("/a\0b", 4)) == "a NUL byte (%00) in the request path");
}
