// src/worker/request_log.cpp: the per-request line, byte for byte in uWSGI's format.

#include "worker/request_log.hpp"

#include "common/logging.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <regex>

using namespace ferry;
using ferry::worker::RequestLogEntry;

namespace {

// Wed Nov 25 10:37:38 2026 UTC.
constexpr std::time_t kWednesday = 1795603058;

// The dates below are UTC; the formatter uses the local time zone.
void use_utc() {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
}

RequestLogEntry entry(const protocol::RequestFacts& facts, std::time_t started) {
  return RequestLogEntry{
      .pid = 812,
      .app_id = 0,
      .worker_requests = 3,
      .total_requests = 9,
      .facts = &facts,
      .var_count = 17,
      .vars_bytes = 612,
      .started = started,
      .msecs = 1,
      .body_bytes = 12,
      .status = 200,
      .header_count = 2,
      .header_bytes = 79,
      .core = 0,
  };
}

std::string line_for(const RequestLogEntry& e) {
  std::string out;
  worker::format_request_line(out, e);
  return out;
}

}  // namespace

TEST_CASE("the exact uWSGI line") {
  use_utc();
  protocol::RequestFacts facts;
  facts.remote_addr = "127.0.0.1";
  facts.uri = "/path";
  CHECK(line_for(entry(facts, kWednesday)) ==
        "[pid: 812|app: 0|req: 3/9] 127.0.0.1 () {34 vars in 612 bytes} [Wed Nov 25 10:37:38 2026] "
        "GET /path => generated 12 bytes in 1 msecs (HTTP/1.1 200) 2 headers in 79 bytes "
        "(1 switches on core 0)\n");
}

TEST_CASE("method, protocol, remote user, status and core as given") {
  use_utc();
  protocol::RequestFacts facts;
  facts.method = "POST";
  facts.uri = "/form?x=1";
  facts.protocol = "HTTP/1.0";
  facts.remote_addr = "10.1.2.3";
  facts.remote_user = "alice";
  auto e = entry(facts, kWednesday + 1);
  e.status = 502;
  e.core = 3;
  CHECK(line_for(e) ==
        "[pid: 812|app: 0|req: 3/9] 10.1.2.3 (alice) {34 vars in 612 bytes} [Wed Nov 25 10:37:39 2026] "
        "POST /form?x=1 => generated 12 bytes in 1 msecs (HTTP/1.0 502) 2 headers in 79 bytes "
        "(1 switches on core 3)\n");
}

TEST_CASE("a day of the month below 10 is padded with a space, as ctime does") {
  use_utc();
  const protocol::RequestFacts facts;
  const std::string line = line_for(entry(facts, kWednesday - 20 * 86400));  // Nov 5
  CHECK(line.find("[Thu Nov  5 10:37:38 2026]") != std::string::npos);
}

TEST_CASE("the line is appended to what the buffer holds") {
  const protocol::RequestFacts facts;
  std::string out = "earlier line\n";
  worker::format_request_line(out, entry(facts, kWednesday));
  CHECK(out.starts_with("earlier line\n[pid: 812|"));
}

TEST_CASE("a request without uwsgi_params matches uWSGI's line pattern") {
  const std::string bytes = protocol::encode_packet({{"PATH_INFO", "/path"}, {"HTTP_HOST", "h"}});
  protocol::Packet packet;
  REQUIRE(protocol::parse_packet(bytes, protocol::kMaxVarsSize, packet).status == protocol::Status::complete);
  const auto facts = protocol::request_facts(packet);
  auto e = entry(facts, std::time(nullptr));
  e.var_count = packet.vars.size();
  e.vars_bytes = packet.vars_bytes;

  const std::regex uwsgi_line(
      R"(^\[pid: \d+\|app: 0\|req: \d+/\d+\] \S* \(\) \{\d+ vars in \d+ bytes\} )"
      R"(\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] GET /path => generated \d+ bytes in \d+ msecs )"
      R"(\(HTTP/1\.1 200\) \d+ headers in \d+ bytes \(1 switches on core 0\)\n$)");
  const std::string line = line_for(e);
  CAPTURE(line);
  CHECK(std::regex_match(line, uwsgi_line));
}

TEST_CASE("what the client sent is escaped: one request is one line") {
  use_utc();
  protocol::RequestFacts facts;
  facts.method = "GET\r\nX";
  facts.uri = "/a\r\n[pid: 1|app: 0|req: 1/1] forged\x1b[2J\\x0d\x7f";
  facts.protocol = "HTTP/1.1\n";
  facts.remote_addr = "1.2.3.4\t";
  facts.remote_user = std::string_view("al\0ce", 5);
  const std::string line = line_for(entry(facts, kWednesday));
  CHECK(line ==
        "[pid: 812|app: 0|req: 3/9] 1.2.3.4\\x09 (al\\x00ce) {34 vars in 612 bytes} [Wed Nov 25 10:37:38 2026] "
        "GET\\x0d\\x0aX /a\\x0d\\x0a[pid: 1|app: 0|req: 1/1] forged\\x1b[2J\\x5cx0d\\x7f => generated 12 bytes in 1 "
        "msecs (HTTP/1.1\\x0a 200) 2 headers in 79 bytes (1 switches on core 0)\n");
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
}

TEST_CASE("LogSafe leaves UTF-8 and printable text as it is") {
  CHECK(fmt::format("x{}", LogSafe{"/caf\xc3\xa9?q=a b&c=%0d"}) == "x/caf\xc3\xa9?q=a b&c=%0d");
  CHECK(fmt::format("{}", LogSafe{""}).empty());
  CHECK(fmt::format("{}", LogSafe{"\n"}) == "\\x0a");
  CHECK(fmt::format("[{:>6}]", LogSafe{"ab"}) == "[    ab]");  // the clean tail keeps its format spec
}

TEST_CASE("append_log_safe writes every byte as LogSafe prints it") {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string text = std::string("a") + static_cast<char>(byte) + "b";
    std::string appended = "x";
    append_log_safe(appended, text);
    CAPTURE(byte);
    CHECK(appended == fmt::format("x{}", LogSafe{text}));
    CHECK(appended.size() == (needs_log_escape(static_cast<char>(byte)) ? 7u : 4u));
  }
}
