// src/worker/request_log_format.cpp: log-format filled in, log-date, strftime, JSON lines,
// X-Forwarded-For and disable-logging's exceptions.

#include "worker/request_log_format.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <vector>

using namespace ferry;
using namespace ferry::config;
using ferry::worker::MemoryFigures;
using ferry::worker::RequestLogEntry;
using ferry::worker::RequestLogFormatter;

namespace {

constexpr std::time_t kWednesday = 1795603058;  // Wed Nov 25 10:37:38 2026 UTC

struct Request {
  protocol::RequestFacts facts;
  std::vector<protocol::Var> vars;
  RequestLogEntry entry{};

  Request() {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    facts.method = "POST";
    facts.uri = "/a?b=1";
    facts.protocol = "HTTP/1.0";
    facts.remote_addr = "10.0.0.9";
    facts.remote_user = "ann";
    vars = {{"HTTP_HOST", "example.org"},
            {"HTTP_USER_AGENT", "curl/8"},
            {"HTTP_REFERER", "http://r/"},
            {"HTTP_X_ID", "abc"}};
    entry = RequestLogEntry{.pid = 812,
                            .app_id = 0,
                            .worker_requests = 3,
                            .total_requests = 9,
                            .facts = &facts,
                            .var_count = 17,
                            .vars_bytes = 612,
                            .started = kWednesday,
                            .msecs = 12,
                            .body_bytes = 100,
                            .status = 201,
                            .header_count = 2,
                            .header_bytes = 50,
                            .core = 1,
                            .micros = 12345,
                            .content_length = 7,
                            .worker_id = 2,
                            .remote_addr = {},
                            .vars = vars,
                            .now = kWednesday + 2};
  }
};

std::string render(const RequestLogShape& shape, const Request& r, MemoryFigures memory = {}) {
  RequestLogFormatter formatter(shape);
  std::string out;
  formatter.append(out, r.entry, memory);
  return out;
}

RequestLogShape with_format(std::string_view format) {
  RequestLogShape shape;
  shape.format = compile_log_format(format, {});
  return shape;
}

}  // namespace

TEST_CASE("each variable's value") {
  Request r;
  auto one = [&](std::string_view name) {
    auto line = render(with_format("%(" + std::string(name) + ")"), r, {4096 * 1024 * 3, 1 << 30});
    line.pop_back();
    return line;
  };
  CHECK(one("addr") == "10.0.0.9");
  CHECK(one("user") == "ann");
  CHECK(one("method") == "POST");
  CHECK(one("uri") == "/a?b=1");
  CHECK(one("proto") == "HTTP/1.0");
  CHECK(one("host") == "example.org");
  CHECK(one("uagent") == "curl/8");
  CHECK(one("referer") == "http://r/");
  CHECK(one("var.HTTP_X_ID") == "abc");
  CHECK(one("var.MISSING") == "");
  CHECK(one("status") == "201");
  CHECK(one("size") == "150");
  CHECK(one("rsize") == "100");
  CHECK(one("hsize") == "50");
  CHECK(one("headers") == "2");
  CHECK(one("cl") == "7");
  CHECK(one("msecs") == "12");
  CHECK(one("micros") == "12345");
  CHECK(one("secs") == "0.012345");
  CHECK(one("time") == "1795603058");
  CHECK(one("epoch") == "1795603060");
  CHECK(one("ctime") == "Wed Nov 25 10:37:38 2026");
  CHECK(one("ltime") == "25/Nov/2026:10:37:38 +0000");
  CHECK(one("pid") == "812");
  CHECK(one("wid") == "2");
  CHECK(one("core") == "1");
  CHECK(one("rss") == "12582912");
  CHECK(one("rssM") == "12");
  CHECK(one("vsz") == "1073741824");
  CHECK(one("vszM") == "1024");
  CHECK(one("vars") == "17");
  CHECK(one("pktsize") == "612");
}

TEST_CASE("a whole format, with the newline") {
  Request r;
  CHECK(render(with_format("%(addr) - %(user) [%(ltime)] \"%(method) %(uri) %(proto)\" %(status) %(size)"), r) ==
        "10.0.0.9 - ann [25/Nov/2026:10:37:38 +0000] \"POST /a?b=1 HTTP/1.0\" 201 150\n");
}

TEST_CASE("what the client sent cannot split or forge a line") {
  Request r;
  r.facts.uri = "/x\r\n[pid: 1] forged\x1b";
  r.vars[1].value = "ua\nnext";
  CHECK(render(with_format("%(uri) %(uagent)"), r) == "/x\\x0d\\x0a[pid: 1] forged\\x1b ua\\x0anext\n");
}

TEST_CASE("logformat-strftime expands the literals with the start time, never the client's text") {
  Request r;
  r.facts.uri = "/%Y";
  auto shape = with_format("%Y-%m-%d %(uri)");
  shape.format_strftime = true;
  CHECK(render(shape, r) == "2026-11-25 /%Y\n");
  shape.format_strftime = false;
  CHECK(render(shape, r) == "%Y-%m-%d /%Y\n");
}

TEST_CASE("log-date prefixes the default line and a log-format line") {
  Request r;
  RequestLogShape shape;
  shape.date = "";
  CHECK(render(shape, r).starts_with("Wed Nov 25 10:37:40 2026 - [pid: 812|app: 0|req: 3/9] 10.0.0.9 (ann)"));
  auto formatted = with_format("%(status)");
  formatted.date = "%Y-%m-%dT%H:%M:%S ";
  CHECK(render(formatted, r) == "2026-11-25T10:37:40 201\n");
}

TEST_CASE("X-Forwarded-For's first address") {
  CHECK(worker::forwarded_client("203.0.113.7, 10.0.0.1") == "203.0.113.7");
  CHECK(worker::forwarded_client("  2001:db8::1 ") == "2001:db8::1");
  CHECK(worker::forwarded_client("") == "");
  Request r;
  r.entry.remote_addr = "203.0.113.7";
  CHECK(render(with_format("%(addr)"), r) == "203.0.113.7\n");
  CHECK(render(RequestLogShape{}, r).find("] 203.0.113.7 (ann)") != std::string::npos);
}

TEST_CASE("JSON: typed fields, the log-format's variables in its order") {
  Request r;
  auto shape = with_format("%(addr) %(status) %(msecs) %(uri) %(secs) %(ltime) %(var.HTTP_X_ID)");
  shape.json = true;
  CHECK(render(shape, r) ==
        "{\"addr\":\"10.0.0.9\",\"status\":201,\"msecs\":12,\"uri\":\"/a?b=1\",\"secs\":0.012345,"
        "\"ltime\":\"25/Nov/2026:10:37:38 +0000\",\"var.HTTP_X_ID\":\"abc\"}\n");
}

TEST_CASE("JSON without log-format: the default fields, hostile text escaped") {
  Request r;
  r.facts.uri = "/\"q\\\x01\xff";
  RequestLogShape shape;
  shape.json = true;
  const auto line = render(shape, r);
  CHECK(line.starts_with("{\"time\":1795603058,\"addr\":\"10.0.0.9\",\"user\":\"ann\",\"method\":\"POST\","));
  CHECK(line.find("\"uri\":\"/\\\"q\\\\\\u0001\\\\xff\"") != std::string::npos);
  CHECK(line.find("\"status\":201,\"size\":150,\"rsize\":100") != std::string::npos);
  CHECK(line.ends_with("\"pid\":812,\"wid\":2,\"core\":1}\n"));
}

TEST_CASE("disable-logging's exceptions, as uWSGI counts them") {
  RequestLogShape shape;
  CHECK_FALSE(worker::kept_by_filters(shape, 100000, 500, 1 << 30));
  shape.slow_ms = 100;
  CHECK(worker::kept_by_filters(shape, 100, 200, 0));
  CHECK_FALSE(worker::kept_by_filters(shape, 99, 200, 0));
  shape = {};
  shape.log_4xx = true;
  CHECK(worker::kept_by_filters(shape, 0, 404, 0));
  CHECK_FALSE(worker::kept_by_filters(shape, 0, 500, 0));
  shape.log_5xx = true;
  CHECK(worker::kept_by_filters(shape, 0, 503, 0));
  CHECK_FALSE(worker::kept_by_filters(shape, 0, 302, 0));
  shape = {};
  shape.big_bytes = 1000;
  CHECK(worker::kept_by_filters(shape, 0, 200, 1000));
  CHECK_FALSE(worker::kept_by_filters(shape, 0, 200, 999));
}
