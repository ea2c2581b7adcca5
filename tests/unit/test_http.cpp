// src/protocol/http.cpp: the HTTP/1.1 request parser over llhttp, and the CGI vars it
// produces. Every smuggling pattern the issue names is fed here and must cost a 400.

#include "protocol/http.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocol/cgi.hpp"

using ferry::protocol::Packet;
using ferry::protocol::request_facts;
using ferry::protocol::RequestFacts;
using namespace ferry::protocol::http;
using namespace std::string_literals;
using Status = RequestParser::Status;

namespace {

constexpr std::size_t kWhole = std::numeric_limits<std::size_t>::max();

// What a connection saw of one request.
struct Outcome {
  std::vector<Status> events;  // every status but need_more, in order
  Head head;
  std::string body;
  int http_status = 0;
  std::string error;
  std::string rest;  // bytes left for the next request
  bool completed() const { return !events.empty() && events.back() == Status::message_complete; }
};

// Drives one request the way the worker will: bytes arrive `step` at a time into a buffer,
// each feed() consumes a prefix of it, and a body view is used before the bytes go.
Outcome run(RequestParser& parser, std::string_view input, std::size_t step = kWhole) {
  Outcome outcome;
  std::string pending;
  std::size_t arrived = 0;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    const RequestParser::Result result = parser.feed(pending);
    REQUIRE(result.consumed <= pending.size());
    if (result.status == Status::body) {
      CHECK(!result.body.empty());
      outcome.body += result.body;
    }
    pending.erase(0, result.consumed);
    if (result.status != Status::need_more) outcome.events.push_back(result.status);
    switch (result.status) {
      case Status::head_complete: outcome.head = parser.head(); break;
      case Status::body: break;
      case Status::message_complete: outcome.rest = pending + std::string(input.substr(arrived)); return outcome;
      case Status::error:
        outcome.http_status = result.http_status;
        outcome.error = result.error;
        CHECK(!result.error.empty());
        return outcome;
      case Status::need_more:
        CHECK(pending.empty());  // need_more takes everything it was given
        if (arrived == input.size()) {
          outcome.rest = pending;
          return outcome;
        }
        const std::size_t n = std::min(step, input.size() - arrived);
        pending.append(input.substr(arrived, n));
        arrived += n;
        break;
    }
  }
  FAIL("the parser never finished");
  return outcome;
}

Outcome run(std::string_view input, Limits limits = {}, std::size_t step = kWhole) {
  RequestParser parser(limits);
  return run(parser, input, step);
}

// The verdict on a malformed request must not depend on how its bytes were split.
Outcome rejected(std::string_view input, int status = 400, Limits limits = {}) {
  const Outcome whole = run(input, limits);
  CHECK(whole.http_status == status);
  const Outcome bytewise = run(input, limits, 1);
  CHECK(bytewise.http_status == status);
  CHECK(bytewise.error == whole.error);
  return whole;
}

const std::string kGet = "GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";

std::string post_chunked(const std::string& chunks) {
  return "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks;
}

std::string with_headers(const std::string& fields, const std::string& body = "",
                         const std::string& line = "POST / HTTP/1.1") {
  return line + "\r\n" + fields + "\r\n" + body;
}

}  // namespace

TEST_CASE("a simple GET: head, then message end, every byte consumed") {
  RequestParser parser({});
  auto result = parser.feed(kGet);
  CHECK(result.status == Status::head_complete);
  CHECK(result.consumed == kGet.size());
  const Head& head = parser.head();
  CHECK(head.method == "GET");
  CHECK(head.target == "/hello?x=1");
  CHECK(head.version_major == 1);
  CHECK(head.version_minor == 1);
  REQUIRE(head.headers.size() == 2);
  CHECK(head.headers[0] == std::pair<std::string, std::string>("Host", "example.com"));
  CHECK(head.headers[1] == std::pair<std::string, std::string>("Accept", "*/*"));
  CHECK(!head.content_length);
  CHECK(!head.chunked);
  CHECK(head.keep_alive);
  CHECK(!head.expect_continue);

  // No body: the next call (with no bytes at all) ends the message.
  result = parser.feed({});
  CHECK(result.status == Status::message_complete);
  CHECK(result.consumed == 0);
}

TEST_CASE("nothing yet, then a partial head: need_more consumes what it was given") {
  RequestParser parser({});
  CHECK(parser.feed({}).status == Status::need_more);
  const auto result = parser.feed("GET / HT");
  CHECK(result.status == Status::need_more);
  CHECK(result.consumed == 8);
  CHECK(parser.feed("TP/1.1\r\nHost: h\r\n\r\n").status == Status::head_complete);
}

TEST_CASE("pipelined requests in one buffer: parsing stops at each message end") {
  const std::string second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string third = "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string all = kGet + second + third;

  RequestParser parser({});
  auto result = parser.feed(all);
  CHECK(result.status == Status::head_complete);
  CHECK(result.consumed == kGet.size());
  CHECK(parser.head().target == "/hello?x=1");
  std::string_view rest = std::string_view(all).substr(result.consumed);
  result = parser.feed(rest);
  CHECK(result.status == Status::message_complete);
  CHECK(result.consumed == 0);

  // The second request continues straight from the first one's end, without reset().
  result = parser.feed(rest);
  CHECK(result.status == Status::head_complete);
  CHECK(parser.head().target == "/b");
  CHECK(parser.head().content_length == 3u);
  rest.remove_prefix(result.consumed);
  result = parser.feed(rest);
  CHECK(result.status == Status::body);
  CHECK(result.body == "abc");
  CHECK(result.body.data() == rest.data());  // a view into the caller's bytes, not a copy
  rest.remove_prefix(result.consumed);
  result = parser.feed(rest);
  CHECK(result.status == Status::message_complete);
  CHECK(rest == third);

  parser.reset();
  const Outcome last = run(parser, rest);
  CHECK(last.completed());
  CHECK(last.head.target == "/c");
  CHECK(!last.head.keep_alive);
  CHECK(last.rest.empty());
}

TEST_CASE("bytes after a Connection: close request are refused") {
  RequestParser parser({});
  const Outcome first = run(parser, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n");
  CHECK(first.completed());
  CHECK(!first.head.keep_alive);
  const auto result = parser.feed(first.rest);
  CHECK(result.status == Status::error);
  CHECK(result.http_status == 400);
}

TEST_CASE("byte-at-a-time feeding gives the same request as one buffer") {
  const std::string requests[] = {
      kGet,
      "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
      post_chunked("5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: 1\r\n\r\n"),
  };
  for (const auto& request : requests) {
    CAPTURE(request);
    const Outcome whole = run(request);
    REQUIRE(whole.completed());
    for (const std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}}) {
      CAPTURE(step);
      const Outcome split = run(request, {}, step);
      REQUIRE(split.completed());
      CHECK(split.head.method == whole.head.method);
      CHECK(split.head.target == whole.head.target);
      CHECK(split.head.headers == whole.head.headers);
      CHECK(split.body == whole.body);
      CHECK(split.rest.empty());
    }
  }
}

TEST_CASE("Content-Length body: delivered in pieces as it arrives, then the message ends") {
  const std::string request = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  const Outcome outcome = run(request, {}, 4);
  CHECK(outcome.completed());
  CHECK(outcome.body == "0123456789");
  CHECK(outcome.head.content_length == 10u);
  CHECK(std::count(outcome.events.begin(), outcome.events.end(), Status::body) >= 3);
}

TEST_CASE("Content-Length: 0 and leading zeros") {
  CHECK(run(with_headers("Host: h\r\nContent-Length: 0\r\n")).head.content_length == 0u);
  const Outcome padded = run(with_headers("Host: h\r\nContent-Length: 003\r\n", "abc"));
  CHECK(padded.completed());
  CHECK(padded.body == "abc");
}

TEST_CASE("the caller may read a Content-Length body itself, then reset()") {
  RequestParser parser({});
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  const auto result = parser.feed(head + "hello");
  CHECK(result.status == Status::head_complete);
  CHECK(result.consumed == head.size());
  parser.reset();  // the 5 body bytes went to the app straight from the socket
  const Outcome next = run(parser, kGet);
  CHECK(next.completed());
  CHECK(next.head.target == "/hello?x=1");
  CHECK(next.head.headers.size() == 2);
}

TEST_CASE("chunked body: framing, extensions and trailers removed") {
  const Outcome outcome =
      run(post_chunked("3;a=b\r\nabc\r\n"
                       "A;x;y\r\n0123456789\r\n"
                       "2;q=\"quoted value\"\r\n\r\n\r\n"  // a chunk whose data is CRLF
                       "0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n"));
  CHECK(outcome.completed());
  CHECK(outcome.body == "abc0123456789\r\n");
  CHECK(outcome.head.chunked);
  CHECK(!outcome.head.content_length);
  // Trailers arrive after the head was handed over: they are not added to it.
  REQUIRE(outcome.head.headers.size() == 2);
  CHECK(outcome.head.headers[1].first == "Transfer-Encoding");
}

TEST_CASE("Transfer-Encoding: chunked in any letter case") {
  const Outcome outcome = run("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n");
  CHECK(outcome.completed());
  CHECK(outcome.body == "z");
}

TEST_CASE("chunk extensions as RFC 9112 7.1.1 writes them are accepted and ignored, however split") {
  // BWS around ';' and '=', several extensions, token and quoted values: llhttp 8.1 refuses
  // the whitespace and an extension after a name=value one, so ferry checks them itself.
  for (const char* ext : {";name=value", " ; name=value", "; a; b=c", ";a=b;c", "\t;\ta\t=\t\"x y\"", ";a = b ;c",
                          ";q=\"a\\\"b;c\"", ";a=\"\"", "  ;a", ";a=b ; c = \"d\" ;e"}) {
    CAPTURE(ext);
    const std::string body = post_chunked("3"s + ext + "\r\nabc\r\n2" + ext + "\r\nde\r\n0" + ext + "\r\n\r\n");
    for (const std::size_t step : {kWhole, std::size_t{1}, std::size_t{2}, std::size_t{7}}) {
      CAPTURE(step);
      const Outcome outcome = run(body, {}, step);
      CHECK(outcome.completed());
      CHECK(outcome.body == "abcde");
    }
  }
}

TEST_CASE("malformed chunk extensions get 400, whole or split") {
  for (const char* ext :
       {"3 \r\n", "3;\r\n", "3; \r\n", "3;a \r\n", "3;a=\r\n", "3;a=b \r\n", "3;=b\r\n", "3;a b\r\n", "3;a=b c\r\n",
        "3;a=\"b\r\n", "3;a=\"b\"c\r\n", "3;a=\"\x01\"\r\n", "3;a=b=c\r\n", "3;;a\r\n", "3 a\r\n", "3;a@\r\n"}) {
    CAPTURE(ext);
    const Outcome outcome = rejected(post_chunked(ext + "abc\r\n0\r\n\r\n"s));
    CHECK(outcome.error.starts_with("malformed chunk extensions: "));
  }
  // Whitespace never splits the size itself: "5 0" is not 0x50 (a smuggling primitive).
  CHECK(rejected(post_chunked("5 0\r\nabcde\r\n0\r\n\r\n")).http_status == 400);
  CHECK(rejected(post_chunked(" 3\r\nabc\r\n0\r\n\r\n")).error.find("HPE_INVALID_CHUNK_SIZE") != std::string::npos);
}

TEST_CASE("empty lines before the request line are ignored (RFC 9112 2.2)") {
  const Outcome outcome = run("\r\n\r\n" + kGet);
  CHECK(outcome.completed());
  CHECK(outcome.head.target == "/hello?x=1");
}

TEST_CASE("field values lose surrounding whitespace; names keep their case") {
  const Outcome outcome = run("GET / HTTP/1.1\r\nHost:h\r\nX-Pad: \t padded value \t \r\n\r\n");
  REQUIRE(outcome.head.headers.size() == 2);
  CHECK(outcome.head.headers[0].second == "h");
  CHECK(outcome.head.headers[1] == std::pair<std::string, std::string>("X-Pad", "padded value"));
  CHECK(run(with_headers("Host: h\r\nContent-Length: 3 \r\n", "abc")).body == "abc");
}

// --- request smuggling and malformed framing: 400 and a closed connection ---

TEST_CASE("Content-Length together with Transfer-Encoding") {
  const char* llhttp_reason = "Content-Length can't be present with Transfer-Encoding";
  CHECK(rejected(with_headers("Host: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"))
            .error.find(llhttp_reason) != std::string::npos);
  CHECK(rejected(with_headers("Host: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"))
            .error.find(llhttp_reason) != std::string::npos);
}

TEST_CASE("duplicate Content-Length, equal or not") {
  CHECK(rejected(with_headers("Host: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n", "abc"))
            .error.find("Duplicate Content-Length") != std::string::npos);
  CHECK(rejected(with_headers("Host: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n", "abcd"))
            .error.find("Duplicate Content-Length") != std::string::npos);
}

TEST_CASE("malformed Content-Length") {
  for (const char* value : {"1, 1", "+1", "-1", "1 2", "0x10", "1.0", "abc", "99999999999999999999999"}) {
    CAPTURE(value);
    const Outcome outcome = rejected(with_headers("Host: h\r\nContent-Length: "s + value + "\r\n", "a"));
    CHECK(outcome.error.find("HPE_INVALID_CONTENT_LENGTH") != std::string::npos);
  }
  CHECK(rejected(with_headers("Host: h\r\nContent-Length:\r\n")).error.find("Empty Content-Length") !=
        std::string::npos);
}

TEST_CASE("Transfer-Encoding other than a lone, final chunked") {
  // chunked not last: RFC 9112 6.3 requires 400 (llhttp's verdict, or ours before it).
  CHECK(rejected(with_headers("Host: h\r\nTransfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"))
            .error.find("HPE_INVALID_TRANSFER_ENCODING") != std::string::npos);
  CHECK(rejected(with_headers("Host: h\r\nTransfer-Encoding: gzip\r\n", "0\r\n\r\n")).error ==
        "Transfer-Encoding whose final coding is not chunked");
  CHECK(rejected(with_headers("Host: h\r\nTransfer-Encoding: xchunked\r\n", "0\r\n\r\n")).error ==
        "Transfer-Encoding whose final coding is not chunked");
  CHECK(rejected(with_headers("Host: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"))
            .http_status == 400);
  // chunked last, but a coding ferry cannot undo before it: 501 (RFC 9112 6.1).
  CHECK(rejected(with_headers("Host: h\r\nTransfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501).error ==
        "transfer codings other than chunked are not implemented");
  CHECK(rejected(with_headers("Host: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 501)
            .http_status == 501);
}

TEST_CASE("Transfer-Encoding in an HTTP/1.0 request") {
  CHECK(rejected(with_headers("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "POST / HTTP/1.0")).error ==
        "Transfer-Encoding in an HTTP/1.0 request");
}

TEST_CASE("bad chunk sizes") {
  for (const char* size : {"0x3", "-3", " 3", "", "g", "10000000000000000"}) {
    CAPTURE(size);
    const Outcome outcome = rejected(post_chunked(size + "\r\nabc\r\n0\r\n\r\n"s));
    CHECK(outcome.error.find("HPE_INVALID_CHUNK_SIZE") != std::string::npos);
  }
  // The data must be followed by CRLF right where the size says it ends.
  CHECK(rejected(post_chunked("3\r\nabcd\r\n0\r\n\r\n")).error.find("Expected CRLF after chunk") != std::string::npos);
  CHECK(rejected(post_chunked("3;a\x01\r\nabc\r\n0\r\n\r\n")).error.find("chunk extensions") != std::string::npos);
}

TEST_CASE("bare LF as a line ending, wherever it is") {
  const std::string where[] = {
      "GET / HTTP/1.1\nHost: h\r\n\r\n",            // after the request line (llhttp accepts this)
      "GET / HTTP/1.1\r\nHost: h\r\n\n",            // the empty line ending the head (accepted too)
      "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",        // an empty line before the request
      "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",    // after a field value
      post_chunked("3\r\nabc\r\n0\r\n\n"),          // after the last chunk (accepted too)
      post_chunked("3\nabc\r\n0\r\n\r\n"),          // after a chunk size
      post_chunked("3\r\nabc\n0\r\n\r\n"),          // after chunk data
      post_chunked("3\r\nabc\r\n0\r\nX: y\n\r\n"),  // in the trailers
  };
  for (const auto& request : where) {
    CAPTURE(request);
    const Outcome outcome = rejected(request);
    CHECK(!outcome.completed());
  }
  // Where llhttp would have accepted it, the reason is ferry's.
  CHECK(rejected(where[0]).error == "bare LF: line endings must be CRLF");
  CHECK(rejected(where[1]).error == "bare LF: line endings must be CRLF");
  CHECK(rejected(where[4]).error == "bare LF: line endings must be CRLF");
}

TEST_CASE("bare CR") {
  for (const std::string& request : {"GET / HTTP/1.1\rHost: h\r\n\r\n"s, "GET / HTTP/1.1\r\nHost: h\rX\r\n\r\n"s,
                                     "GET / HTTP/1.1\r\nHost: h\r\n\rX"s, "GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n"s,
                                     post_chunked("3\rabc\r\n0\r\n\r\n")}) {
    CAPTURE(request);
    rejected(request);
  }
}

TEST_CASE("obsolete line folding, in the head and in trailers") {
  CHECK(rejected("GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n b\r\n\r\n").error ==
        "obsolete line folding (a field line starting with whitespace)");
  CHECK(rejected("GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n\tb\r\n\r\n").error ==
        "obsolete line folding (a field line starting with whitespace)");
  CHECK(rejected(post_chunked("1\r\na\r\n0\r\nX: y\r\n z\r\n\r\n")).error ==
        "obsolete line folding (a field line starting with whitespace)");
  rejected("GET / HTTP/1.1\r\n Host: h\r\n\r\n");  // whitespace before the first field
}

TEST_CASE("control characters in the target, names and values") {
  rejected("GET /a\x01z HTTP/1.1\r\nHost: h\r\n\r\n");
  rejected("GET /a\x7fz HTTP/1.1\r\nHost: h\r\n\r\n");
  rejected("GET /a\tz HTTP/1.1\r\nHost: h\r\n\r\n");
  rejected("GET /\xe9 HTTP/1.1\r\nHost: h\r\n\r\n");
  rejected("GET /a\0z HTTP/1.1\r\nHost: h\r\n\r\n"s);
  rejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n");
  rejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fz\r\n\r\n");
  rejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\0z\r\n\r\n"s);
  rejected("GET / HTTP/1.1\r\nHost: h\r\nX\x01Y: z\r\n\r\n");
  rejected("GET / HTTP/1.1\r\nHost: h\r\nX\0Y: z\r\n\r\n"s);
  // HTAB and obs-text are legal inside a value.
  CHECK(run("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\xe9\r\n\r\n").completed());
}

TEST_CASE("malformed field lines") {
  CHECK(rejected("GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n").error == "header field with an empty name");
  rejected("GET / HTTP/1.1\r\nHost : h\r\n\r\n");  // whitespace before the colon (RFC 9112 5.1)
  rejected("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n");
  rejected("GET / HTTP/1.1\r\nHost: h\r\nX(Y): z\r\n\r\n");
}

TEST_CASE("invalid methods") {
  for (const char* line : {"G ET / HTTP/1.1", " GET / HTTP/1.1", "GE\x01T / HTTP/1.1", "G\"T / HTTP/1.1"}) {
    CAPTURE(line);
    rejected(line + "\r\nHost: h\r\n\r\n"s);
  }
}

TEST_CASE("a method token llhttp does not know gets 501 Not Implemented (RFC 9110 15.6.2)") {
  // Methods are case-sensitive tokens (RFC 9110 9.1): "get" is not GET.
  // (A pair, not a structured binding: doctest's CAPTURE makes a lambda, and clang 14
  // cannot capture a binding.)
  for (const auto& test :
       std::vector<std::pair<std::string, std::string>>{{"-BLARGH / HTTP/1.1", "-BLARGH"},
                                                        {"get / HTTP/1.1", "get"},
                                                        {"FOO / HTTP/1.1", "FOO"},
                                                        {"DESCRIBE / HTTP/1.1", "DESCRIBE"},
                                                        {"GETX / HTTP/1.1", "GETX"},
                                                        {"\r\nM-SEARCHING / HTTP/1.1", "M-SEARCHING"}}) {
    const std::string& line = test.first;
    const std::string& method = test.second;
    CAPTURE(line);
    const std::string request = line + "\r\nHost: h\r\n\r\n";
    const Outcome outcome = run(request);
    CHECK(outcome.http_status == 501);
    CHECK(outcome.error == "method " + method + " is not implemented (ferry serves the methods llhttp knows)");
    // Split, the verdict is the same; the log line names what had arrived of the method.
    CHECK(run(request, {}, 1).http_status == 501);
  }
  const Outcome long_one = run(std::string(100, 'X') + " / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(long_one.error ==
        "method " + std::string(40, 'X') + "... is not implemented (ferry serves the methods llhttp knows)");
}

TEST_CASE("methods llhttp knows reach the app") {
  // Any method llhttp knows is the app's business (WebDAV, PATCH, ...).
  CHECK(run("PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n").head.method == "PROPFIND");
  CHECK(run("M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n").http_status == 400);  // "*" is for OPTIONS only
}

TEST_CASE("versions other than HTTP/1.0 and HTTP/1.1") {
  CHECK(rejected("GET /\r\n\r\n").error == "request line must be method SP target SP version");  // HTTP/0.9
  CHECK(rejected("GET / HTTP/0.9\r\n\r\n", 505).http_status == 505);
  CHECK(rejected("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505).http_status == 505);
  CHECK(rejected("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505).http_status == 505);
  for (const char* line : {"GET / HTTP/1.2", "GET / HTTP/3.0", "GET / HTTP/1.10", "GET / http/1.1", "GET / HTTP/1",
                           "GET / HTTP/1.1 ", "GET / HTTX/1.1"}) {
    CAPTURE(line);
    rejected(line + "\r\nHost: h\r\n\r\n"s);
  }
  const Outcome old = run("GET / HTTP/1.0\r\n\r\n");
  CHECK(old.completed());
  CHECK(old.head.version_minor == 0);
}

TEST_CASE("request-target forms") {
  CHECK(run("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").completed());
  CHECK(rejected("GET * HTTP/1.1\r\nHost: h\r\n\r\n").error == "asterisk-form request-target is only for OPTIONS");
  CHECK(run("GET http://example.com/p?q HTTP/1.1\r\nHost: h\r\n\r\n").completed());
  CHECK(run("GET HTTPS://example.com HTTP/1.1\r\nHost: h\r\n\r\n").completed());
  CHECK(rejected("GET ftp://example.com/p HTTP/1.1\r\nHost: h\r\n\r\n").error ==
        "request-target must be origin-form, absolute-form (http/https) or * for OPTIONS");
  CHECK(rejected("GET http://user:pw@example.com/ HTTP/1.1\r\nHost: h\r\n\r\n").error ==
        "userinfo in the request-target");
  CHECK(rejected("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n").error == "absolute-form request-target without a host");
  rejected("GET relative/path HTTP/1.1\r\nHost: h\r\n\r\n");
  rejected("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n");  // authority-form
  rejected("GET HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(rejected("GET  / HTTP/1.1\r\nHost: h\r\n\r\n").error == "request line must be method SP target SP version");
  CHECK(rejected("GET /  HTTP/1.1\r\nHost: h\r\n\r\n").error == "request line must be method SP target SP version");
}

TEST_CASE("CONNECT is not supported; an Upgrade offer is declined, and the request served") {
  CHECK(rejected("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").error ==
        "CONNECT is not supported");
  // RFC 9110 7.8: a server may ignore Upgrade and answer in HTTP/1.1; the request is an
  // ordinary one, parsed to its end, and the connection can be kept.
  for (const char* request : {"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                              "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                              "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
                              "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n"}) {
    CAPTURE(request);
    const auto r = run(request);
    CHECK(r.completed());
    CHECK(r.head.keep_alive);
  }
  // With a body, the body is read as the request's, not taken for the new protocol.
  const auto r =
      run("POST /u HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
          "Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.completed());
  CHECK(r.body == "hello");
  CHECK(r.rest == "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST_CASE("Host: required once in HTTP/1.1, at most once in HTTP/1.0") {
  CHECK(rejected("GET / HTTP/1.1\r\n\r\n").error == "HTTP/1.1 request without a Host header");
  CHECK(rejected("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").error == "more than one Host header");
  CHECK(rejected("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n").error == "more than one Host header");
  CHECK(run("GET / HTTP/1.0\r\n\r\n").completed());
}

TEST_CASE("an error is final: later feeds repeat it; reset() starts over") {
  RequestParser parser({});
  const auto first = parser.feed("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
  CHECK(first.status == Status::error);
  const auto again = parser.feed(kGet);
  CHECK(again.status == Status::error);
  CHECK(again.http_status == first.http_status);
  CHECK(again.error == first.error);
  CHECK(again.consumed == 0);
  parser.reset();
  CHECK(run(parser, kGet).completed());
}

// --- limits ---

TEST_CASE("max_head_bytes: a head of exactly the limit passes, one byte more is 431") {
  const std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Fill: " + std::string(100, 'f') + "\r\n\r\n";
  Limits limits;
  limits.max_head_bytes = request.size();
  CHECK(run(request, limits).completed());
  CHECK(run(request, limits, 1).completed());
  CHECK(run(request + kGet, limits).completed());  // the next request's bytes do not count
  limits.max_head_bytes = request.size() - 1;
  CHECK(rejected(request, 431, limits).error ==
        "request head larger than " + std::to_string(limits.max_head_bytes) + " bytes");
}

TEST_CASE("max_head_bytes: the parser stops reading at the limit") {
  Limits limits;
  limits.max_head_bytes = 64;
  RequestParser parser(limits);
  const std::string endless = "GET / HTTP/1.1\r\nHost: h\r\nX-Fill: " + std::string(10'000, 'f');
  const auto result = parser.feed(endless);
  CHECK(result.status == Status::error);
  CHECK(result.http_status == 431);
  CHECK(result.consumed <= 64);
}

TEST_CASE("a request line longer than max_head_bytes is 414") {
  Limits limits;
  limits.max_head_bytes = 64;
  const Outcome outcome = rejected("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414, limits);
  CHECK(outcome.error == "request line larger than 64 bytes");
}

TEST_CASE("max_target_bytes: 414") {
  Limits limits;
  limits.max_target_bytes = 16;
  CHECK(run("GET /" + std::string(15, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits).completed());
  CHECK(rejected("GET /" + std::string(16, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414, limits).error ==
        "request-target longer than 16 bytes");
}

TEST_CASE("max_headers: 431 on one field line too many") {
  Limits limits;
  limits.max_headers = 3;
  CHECK(run("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits).completed());
  CHECK(rejected("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, limits).error ==
        "more than 3 header fields");
}

TEST_CASE("max_body with Content-Length: 413 as soon as the head is in") {
  Limits limits;
  limits.max_body = 5;
  CHECK(run(with_headers("Host: h\r\nContent-Length: 5\r\n", "12345"), limits).completed());
  RequestParser parser(limits);
  const std::string head = with_headers("Host: h\r\nContent-Length: 6\r\nExpect: 100-continue\r\n");
  const auto result = parser.feed(head + "123456");
  CHECK(result.status == Status::error);
  CHECK(result.http_status == 413);
  CHECK(result.error == "Content-Length 6 is above limit-post (5 bytes)");
  CHECK(result.consumed <= head.size());  // not one byte of the body was read
}

TEST_CASE("max_body with a chunked body: 413 at the chunk that would cross it") {
  Limits limits;
  limits.max_body = 5;
  CHECK(run(post_chunked("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), limits).body == "abcde");
  const Outcome over = run(post_chunked("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"), limits);
  CHECK(over.http_status == 413);
  CHECK(over.body == "abc");  // refused before "def" was delivered
  CHECK(rejected(post_chunked("ffffffffffffffff\r\nabc"), 413, limits).http_status == 413);
}

TEST_CASE("chunk extensions and trailers are bounded by max_head_bytes") {
  Limits limits;
  limits.max_head_bytes = 128;
  CHECK(run(post_chunked("1\r\na\r\n0\r\nX-T: " + std::string(60, 't') + "\r\n\r\n"), limits).completed());
  CHECK(rejected(post_chunked("1\r\na\r\n0\r\nX-T: " + std::string(200, 't') + "\r\n\r\n"), 431, limits).http_status ==
        431);
  CHECK(rejected(post_chunked("1;" + std::string(200, 'e') + "\r\na\r\n0\r\n\r\n"), 431, limits).http_status == 431);
}

// --- connection semantics ---

TEST_CASE("keep-alive: HTTP/1.1 unless close, HTTP/1.0 only when asked") {
  CHECK(run("GET / HTTP/1.1\r\nHost: h\r\n\r\n").head.keep_alive);
  CHECK(!run("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").head.keep_alive);
  CHECK(!run("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").head.keep_alive);
  CHECK(!run("GET / HTTP/1.1\r\nHost: h\r\nConnection: te, close\r\n\r\n").head.keep_alive);
  CHECK(!run("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  CHECK(run("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").head.keep_alive);
  CHECK(run("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").head.keep_alive);
  CHECK(!run("GET / HTTP/1.0\r\nConnection: close\r\n\r\n").head.keep_alive);
}

TEST_CASE("Expect: 100-continue, any case, HTTP/1.1 only") {
  CHECK(run(with_headers("Host: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n", "x")).head.expect_continue);
  CHECK(run(with_headers("Host: h\r\nexpect: 100-Continue\r\nContent-Length: 1\r\n", "x")).head.expect_continue);
  CHECK(
      !run(with_headers("Expect: 100-continue\r\nContent-Length: 1\r\n", "x", "POST / HTTP/1.0")).head.expect_continue);
  CHECK(!run(with_headers("Host: h\r\nExpect: something-else\r\n")).head.expect_continue);
  CHECK(!run(with_headers("Host: h\r\n")).head.expect_continue);
}

TEST_CASE("100-continue flow: the body is not touched until the caller feeds again") {
  RequestParser parser({});
  const std::string head = with_headers("Host: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n");
  auto result = parser.feed(head);
  CHECK(result.status == Status::head_complete);
  CHECK(parser.head().expect_continue);
  // ... the caller writes "HTTP/1.1 100 Continue", the client sends the body ...
  result = parser.feed("ok");
  CHECK(result.status == Status::body);
  CHECK(result.body == "ok");
  CHECK(parser.feed({}).status == Status::message_complete);
}

// --- CGI vars ---

namespace {

const Endpoint kPeer{"203.0.113.7", "51234"};
const Endpoint kLocal{"192.0.2.1", "8000"};

std::map<std::string, std::string> vars_of(const Packet& packet) {
  std::map<std::string, std::string> vars;
  for (const auto& var : packet.vars) {
    CHECK_MESSAGE(vars.count(std::string(var.key)) == 0, "a key appears once: ", var.key);
    vars.emplace(var.key, var.value);
  }
  return vars;
}

std::map<std::string, std::string> vars_for(const std::string& request, const Endpoint& local = kLocal) {
  const Outcome outcome = run(request);
  REQUIRE(outcome.completed());
  Packet packet;
  append_cgi_vars(outcome.head, kPeer, local, packet);
  return vars_of(packet);
}

}  // namespace

TEST_CASE("vars: what nginx's uwsgi_params would carry, in its order") {
  RequestParser parser({});
  REQUIRE(
      parser.feed("GET /caf%C3%A9/a%20b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n").status ==
      Status::head_complete);
  Packet packet;
  append_cgi_vars(parser.head(), kPeer, kLocal, packet);
  std::vector<std::string> keys;
  for (const auto& var : packet.vars) keys.emplace_back(var.key);
  CHECK(keys == std::vector<std::string>{"QUERY_STRING", "REQUEST_METHOD", "CONTENT_TYPE", "CONTENT_LENGTH",
                                         "REQUEST_URI", "PATH_INFO", "SERVER_PROTOCOL", "REQUEST_SCHEME", "REMOTE_ADDR",
                                         "REMOTE_PORT", "SERVER_PORT", "SERVER_NAME", "SERVER_ADDR", "HTTP_HOST",
                                         "HTTP_ACCEPT"});
  const auto vars = vars_of(packet);
  CHECK(vars.at("QUERY_STRING") == "x=1&y=%20");
  CHECK(vars.at("REQUEST_METHOD") == "GET");
  CHECK(vars.at("CONTENT_TYPE") == "");
  CHECK(vars.at("CONTENT_LENGTH") == "");
  CHECK(vars.at("REQUEST_URI") == "/caf%C3%A9/a%20b?x=1&y=%20");
  CHECK(vars.at("PATH_INFO") == "/caf\xC3\xA9/a b");
  CHECK(vars.at("SERVER_PROTOCOL") == "HTTP/1.1");
  CHECK(vars.at("REQUEST_SCHEME") == "http");
  CHECK(vars.at("REMOTE_ADDR") == "203.0.113.7");
  CHECK(vars.at("REMOTE_PORT") == "51234");
  CHECK(vars.at("SERVER_ADDR") == "192.0.2.1");
  CHECK(vars.at("SERVER_PORT") == "8080");  // from Host; the listener's only without one
  CHECK(vars.at("SERVER_NAME") == "example.com");
  CHECK(vars.at("HTTP_HOST") == "example.com:8080");
  CHECK(vars.at("HTTP_ACCEPT") == "*/*");

  // The worker's own reading of the vars works on them as on nginx's.
  const RequestFacts facts = request_facts(packet);
  CHECK(facts.method == "GET");
  CHECK(facts.uri == "/caf%C3%A9/a%20b?x=1&y=%20");
  CHECK(facts.remote_addr == "203.0.113.7");
  CHECK(packet.vars_bytes > 0);
}

TEST_CASE("vars: PATH_INFO is the path as nginx's $uri, REQUEST_URI the target as sent") {
  const auto get = [](const std::string& target) { return vars_for("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"); };
  auto vars = get("/static/../admin/./login//?next=/a/../b");
  CHECK(vars.at("PATH_INFO") == "/admin/login/");
  CHECK(vars.at("REQUEST_URI") == "/static/../admin/./login//?next=/a/../b");
  CHECK(vars.at("QUERY_STRING") == "next=/a/../b");
  CHECK(get("/a/%2e%2e/b").at("PATH_INFO") == "/b");  // decoded first, as nginx does
  CHECK(get("/a/b/%2E%2E").at("PATH_INFO") == "/a/");
  CHECK(get("http://h/x/../y").at("PATH_INFO") == "/y");
  CHECK(vars_for("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").at("PATH_INFO") == "*");
}

TEST_CASE("a path that climbs above the root, or holds a NUL, gets 400 as from nginx") {
  for (const char* target : {"/..", "/../etc/passwd", "/a/../../b", "/%2e%2e/x", "/a/%2E%2E/%2e%2e/"}) {
    CAPTURE(target);
    CHECK(rejected("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n\r\n").error ==
          "a \"..\" segment above the root of the request path");
  }
  CHECK(rejected("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n").error == "a NUL byte (%00) in the request path");
  for (const char* target : {"/a%zz", "/a%", "/a%2", "/%%41"}) {
    CAPTURE(target);
    CHECK(rejected("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n\r\n").error ==
          "an invalid %-escape in the request path");
  }
  // The query string is the app's to decode: nginx passes it as it is, and so does ferry.
  CHECK(vars_for("GET /a?q=%zz% HTTP/1.1\r\nHost: h\r\n\r\n").at("QUERY_STRING") == "q=%zz%");
  CHECK(rejected("GET http://h/../x HTTP/1.1\r\nHost: h\r\n\r\n").error ==
        "a \"..\" segment above the root of the request path");
}

TEST_CASE("vars: body framing") {
  const auto posted = vars_for(with_headers("Host: h\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n", "abc"));
  CHECK(posted.at("CONTENT_TYPE") == "text/plain");
  CHECK(posted.at("CONTENT_LENGTH") == "3");
  CHECK(posted.count("HTTP_CONTENT_TYPE") == 0);
  CHECK(posted.count("HTTP_CONTENT_LENGTH") == 0);
  CHECK(posted.at("REQUEST_METHOD") == "POST");

  const auto chunked = vars_for(post_chunked("3\r\nabc\r\n0\r\n\r\n"));
  CHECK(chunked.at("CONTENT_LENGTH") == "");
  CHECK(chunked.at("HTTP_TRANSFER_ENCODING") == "chunked");
}

TEST_CASE("vars: repeated headers merged like the uwsgi codec; Cookie with \"; \"") {
  const auto vars = vars_for(
      "GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\nCookie: a=1\r\nX-Forwarded-For: 10.0.0.1\r\n"
      "accept: application/json\r\ncookie: b=2\r\nX-FORWARDED-FOR: 10.0.0.2\r\nCookie: c=3\r\n\r\n");
  CHECK(vars.at("HTTP_ACCEPT") == "text/html, application/json");
  CHECK(vars.at("HTTP_COOKIE") == "a=1; b=2; c=3");
  CHECK(vars.at("HTTP_X_FORWARDED_FOR") == "10.0.0.1, 10.0.0.2");
}

TEST_CASE("vars: names with underscores are dropped, so X_Real_IP cannot pose as X-Real-IP") {
  const auto vars = vars_for("GET / HTTP/1.1\r\nHost: h\r\nX_Real_IP: 6.6.6.6\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
  CHECK(vars.at("HTTP_X_REAL_IP") == "10.0.0.1");
}

TEST_CASE("vars: SERVER_NAME from Host, with or without a port, IPv6 literals kept whole") {
  CHECK(vars_for("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n").at("SERVER_NAME") == "example.com");
  CHECK(vars_for("GET / HTTP/1.1\r\nHost: example.com:8000\r\n\r\n").at("SERVER_NAME") == "example.com");
  CHECK(vars_for("GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n").at("SERVER_NAME") == "[::1]");
  CHECK(vars_for("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n").at("SERVER_NAME") == "[::1]");
  CHECK(vars_for("GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n").at("HTTP_HOST") == "[::1]:8000");
  // No Host (HTTP/1.0), or an empty one: the listener's address.
  CHECK(vars_for("GET / HTTP/1.0\r\n\r\n").at("SERVER_NAME") == "192.0.2.1");
  CHECK(vars_for("GET / HTTP/1.1\r\nHost:\r\n\r\n").at("SERVER_NAME") == "192.0.2.1");
  CHECK(vars_for("GET / HTTP/1.0\r\n\r\n", {"::1", "8000"}).at("SERVER_NAME") == "[::1]");
  CHECK(vars_for("GET / HTTP/1.0\r\n\r\n", {"::1", "8000"}).at("SERVER_ADDR") == "::1");
  CHECK(vars_for("GET / HTTP/1.0\r\n\r\n").at("SERVER_PROTOCOL") == "HTTP/1.0");
}

TEST_CASE("vars: an absolute-form target is split; its host beats the Host field") {
  const auto vars = vars_for("GET http://example.org:8080/a%2Fb/c?q=1#frag HTTP/1.1\r\nHost: ignored.example\r\n\r\n");
  CHECK(vars.at("REQUEST_URI") == "/a%2Fb/c?q=1");
  CHECK(vars.at("PATH_INFO") == "/a/b/c");
  CHECK(vars.at("QUERY_STRING") == "q=1");
  CHECK(vars.at("HTTP_HOST") == "example.org:8080");
  CHECK(vars.at("SERVER_NAME") == "example.org");

  const auto bare = vars_for("GET http://example.org?x HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(bare.at("PATH_INFO") == "/");
  CHECK(bare.at("REQUEST_URI") == "/?x");
  CHECK(bare.at("QUERY_STRING") == "x");

  // HTTP/1.0 need not send Host: the target's host is the only one.
  const auto old = vars_for("GET https://[2001:db8::1]:8443/p HTTP/1.0\r\n\r\n");
  CHECK(old.at("HTTP_HOST") == "[2001:db8::1]:8443");
  CHECK(old.at("SERVER_NAME") == "[2001:db8::1]");
  CHECK(old.at("PATH_INFO") == "/p");
}

TEST_CASE("vars: a fragment reaches neither QUERY_STRING nor PATH_INFO") {
  const auto vars = vars_for("GET /page?q=1#section-2 HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(vars.at("QUERY_STRING") == "q=1");
  CHECK(vars.at("PATH_INFO") == "/page");
  CHECK(vars.at("REQUEST_URI") == "/page?q=1");
  const auto no_query = vars_for("GET /page#a?b HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(no_query.at("QUERY_STRING") == "");
  CHECK(no_query.at("PATH_INFO") == "/page");
}

TEST_CASE("vars: OPTIONS *") {
  const auto vars = vars_for("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(vars.at("REQUEST_URI") == "*");
  CHECK(vars.at("PATH_INFO") == "*");
  CHECK(vars.at("QUERY_STRING") == "");
}

TEST_CASE("vars: views stay valid while the Packet lives, whatever else allocates") {
  // Many short strings (small-string optimisation: a moved std::string moves its bytes).
  std::string request = "GET /p HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 40; ++i) request += "X-" + std::to_string(i) + ": v\r\nx-" + std::to_string(i) + ": w\r\n";
  request += "\r\n";
  const Outcome outcome = run(request);
  REQUIRE(outcome.completed());
  Packet packet;
  append_cgi_vars(outcome.head, {"a", "1"}, {"b", "2"}, packet);
  std::vector<std::string> noise(1000, "x");  // churn the heap
  const auto vars = vars_of(packet);
  CHECK(vars.at("HTTP_X_0") == "v, w");
  CHECK(vars.at("HTTP_X_39") == "v, w");
  CHECK(vars.at("REMOTE_ADDR") == "a");
  CHECK(vars.at("SERVER_PORT") == "2");
}

TEST_CASE("vars: a Packet whose merged strings are in use is refused") {
  Packet packet;
  packet.merged.emplace_back("in use");
  CHECK_THROWS_AS(append_cgi_vars(Head{}, kPeer, kLocal, packet), std::invalid_argument);
}
