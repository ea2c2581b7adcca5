// tests/bench/response_parser.cpp: the load generator's verdicts (complete, truncated,
// malformed) must be right, or its error counts mean nothing. Every response is also fed
// one byte at a time, the worst split a read can produce.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>

#include "response_parser.hpp"

using ferry::bench::ResponseParser;
using State = ResponseParser::State;
using End = ResponseParser::End;

namespace {

struct Outcome {
  State state;
  int status;
  std::uint64_t body;
  bool keep_alive;
};

// Feeds the whole response at once, or byte by byte; then the close, if `close`.
Outcome parse(End end, const std::string& response, bool bytewise, bool close) {
  ResponseParser p(end);
  if (bytewise) {
    for (char c : response) p.feed(std::string_view(&c, 1));
  } else {
    p.feed(response);
  }
  if (close) p.on_close();
  return {p.state(), p.status(), p.body_bytes(), p.keep_alive()};
}

void both_ways(End end, const std::string& response, bool close, State state, std::uint64_t body = 0) {
  for (bool bytewise : {false, true}) {
    CAPTURE(bytewise);
    const auto o = parse(end, response, bytewise, close);
    CHECK(o.state == state);
    if (state == State::complete) CHECK(o.body == body);
  }
}

}  // namespace

TEST_CASE("HTTP: Content-Length ends the response without a close") {
  const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  both_ways(End::framed, r, false, State::complete, 5);
  const auto o = parse(End::framed, r, false, false);
  CHECK(o.status == 200);
  CHECK(o.keep_alive);
  both_ways(End::framed, r.substr(0, r.size() - 1), true, State::invalid);  // truncated
  both_ways(End::framed, r.substr(0, 20), true, State::invalid);            // inside the head
}

TEST_CASE("HTTP: chunked bodies, with extensions and trailers") {
  const std::string r =
      "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n";
  both_ways(End::framed, r, false, State::complete, 21);
  both_ways(End::framed, r.substr(0, r.size() - 2), true, State::invalid);
  both_ways(End::framed, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, State::invalid);
  both_ways(End::framed, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", false,
            State::invalid);  // more data than the chunk size
}

TEST_CASE("HTTP: no framing means the close ends the body, and no keep-alive") {
  const std::string r = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabc";
  both_ways(End::framed, r, true, State::complete, 3);
  CHECK(parse(End::framed, r, false, false).state == State::body);
  CHECK_FALSE(parse(End::framed, r, false, true).keep_alive);
}

TEST_CASE("HTTP: Connection headers decide keep-alive") {
  CHECK_FALSE(
      parse(End::framed, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false, false).keep_alive);
  CHECK(parse(End::framed, "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", false, false)
            .keep_alive);
}

TEST_CASE("uwsgi: only the close completes, and Content-Length must agree") {
  const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  CHECK(parse(End::at_close, r, false, false).state == State::body);
  both_ways(End::at_close, r, true, State::complete, 5);
  both_ways(End::at_close, r.substr(0, r.size() - 2), true, State::invalid);
  both_ways(End::at_close, r + "extra", true, State::invalid);
  both_ways(End::at_close, "HTTP/1.1 404 Not Found\r\n\r\nnope", true, State::complete, 4);
  CHECK(parse(End::at_close, "HTTP/1.1 404 Not Found\r\n\r\n", false, true).status == 404);
}

TEST_CASE("malformed heads are invalid") {
  both_ways(End::at_close, "", true, State::invalid);
  both_ways(End::at_close, "HTTP/2 200 OK\r\n\r\n", true, State::invalid);
  both_ways(End::at_close, "HTTP/1.1 2x0 OK\r\n\r\n", true, State::invalid);
  both_ways(End::at_close, "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", true, State::invalid);
  both_ways(End::framed, "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", false, State::invalid);
  both_ways(End::framed, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", false, State::invalid);
  ResponseParser p(End::framed);
  p.feed("HTTP/1.1 200 OK\r\nX: " + std::string(ferry::bench::kMaxHead, 'a'));
  CHECK(p.state() == State::invalid);
}

TEST_CASE("reset() makes the parser reusable for the next response") {
  ResponseParser p(End::framed);
  p.feed("HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nx");
  CHECK(p.status() == 500);
  p.reset();
  p.feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(p.state() == State::complete);
  CHECK(p.status() == 200);
  CHECK(p.body_bytes() == 2);
}
