// src/protocol/http_text.cpp: the lexical helpers the request parser and the CGI var
// builder share, and the line-ending check (rejections 1-3 of http.cpp).

#include "protocol/http_text.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace ferry::protocol::http;
using namespace std::string_view_literals;

namespace {

// Why a fresh LineCheck refuses `text`, or "" when it does not.
std::string refusal(std::string_view text) {
  const char* why = LineCheck{}.scan(text);
  return why == nullptr ? "" : why;
}

}  // namespace

TEST_CASE("iequals compares ASCII case-insensitively, and only equal lengths") {
  CHECK(iequals("Transfer-Encoding", "transfer-encoding"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("chunked", "chunked "));
  CHECK_FALSE(iequals("Host", "Hosts"));
  CHECK_FALSE(iequals("a-b", "a_b"));
  CHECK(istarts_with("HTTP://h/", "http://"));
  CHECK_FALSE(istarts_with("http:/", "http://"));
}

TEST_CASE("trim_ows strips SP and HTAB at both ends, nothing else") {
  CHECK(trim_ows(" \t value \t") == "value");
  CHECK(trim_ows("a b") == "a b");
  CHECK(trim_ows("  ") == "");
  CHECK(trim_ows("") == "");
  CHECK(trim_ows("\rx\n") == "\rx\n");
}

TEST_CASE("is_tchar accepts RFC 9110 token characters only") {
  for (const char c : "azAZ09!#$%&'*+-.^_`|~"sv) CHECK(is_tchar(static_cast<unsigned char>(c)));
  for (const char c : " \t\"(),/:;<=>?@[\\]{}\r\n"sv) CHECK_FALSE(is_tchar(static_cast<unsigned char>(c)));
  CHECK_FALSE(is_tchar(0));
  CHECK_FALSE(is_tchar(0x7f));
  CHECK_FALSE(is_tchar(0xe9));
}

TEST_CASE("split_target: origin-form") {
  const TargetParts parts = split_target("/a/b?x=1&y#frag");
  CHECK_FALSE(parts.absolute);
  CHECK(parts.authority.empty());
  CHECK(parts.path_and_query == "/a/b?x=1&y");
  CHECK(parts.path == "/a/b");
  CHECK(parts.query == "x=1&y");

  const TargetParts bare = split_target("/p");
  CHECK(bare.path == "/p");
  CHECK(bare.query.empty());
  CHECK(split_target("/p?").query.empty());
  CHECK(split_target("/p?").path == "/p");
}

TEST_CASE("split_target: absolute-form, any case of http or https") {
  const TargetParts parts = split_target("HTTPS://example.com:8443/x?q#f");
  CHECK(parts.absolute);
  CHECK(parts.authority == "example.com:8443");
  CHECK(parts.path_and_query == "/x?q");
  CHECK(parts.path == "/x");
  CHECK(parts.query == "q");

  const TargetParts no_path = split_target("http://[::1]:8000?a=b");
  CHECK(no_path.authority == "[::1]:8000");
  CHECK(no_path.path.empty());
  CHECK(no_path.query == "a=b");
  CHECK(split_target("http://host").path_and_query.empty());

  CHECK(absolute_scheme_length("http://h") == 7);
  CHECK(absolute_scheme_length("hTTpS://h") == 8);
  CHECK(absolute_scheme_length("ftp://h") == 0);
  CHECK_FALSE(split_target("ftp://h/p").absolute);
}

TEST_CASE("LineCheck: CRLF lines pass, in slices of any size") {
  const std::string_view head = "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  LineCheck whole;
  CHECK(whole.scan(head) == nullptr);
  LineCheck bytewise;
  for (const char c : head) CHECK(bytewise.scan(std::string_view(&c, 1)) == nullptr);
}

TEST_CASE("LineCheck refuses bare LF, bare CR, folding and extra spaces") {
  CHECK(refusal("GET / HTTP/1.1\nHost: h\r\n") == "bare LF: line endings must be CRLF");
  CHECK(refusal("GET / HTTP/1.1\rHost: h") == "bare CR: line endings must be CRLF");
  CHECK(refusal("GET / HTTP/1.1\r\nA: b\r\n c\r\n") == "obsolete line folding (a field line starting with whitespace)");
  CHECK(refusal("GET  / HTTP/1.1\r\n") == "request line must be method SP target SP version");
  CHECK(refusal("GET /\r\n") == "request line must be method SP target SP version");

  // Body bytes are skipped: a line after them starts afresh, not mid-CR.
  LineCheck check;
  CHECK(check.scan("POST / HTTP/1.1\r\nHost: h\r\n\r\n5\r") == nullptr);
  check.skip_body();
  CHECK(check.scan("\r\n0\r\n\r\n") == nullptr);
}
