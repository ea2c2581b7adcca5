// src/master/stats_routes.cpp: what the stats address answers over HTTP.

#include "master/stats_routes.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry::master;
using ferry::protocol::http::Head;

namespace {

Head request(std::string method, std::string path) {
  Head head;
  head.method = std::move(method);
  head.target = path;
  head.path_info = std::move(path);
  return head;
}

struct Counting {
  int collected = 0;
  StatsRouting routing() {
    return {[this] {
              ++collected;
              StatsSnapshot s;
              s.version.append("9");
              return s;
            },
            true};
  }
};

}  // namespace

TEST_CASE("GET / is the stats JSON, collected once") {
  Counting c;
  const auto reply = route_stats_request(request("GET", "/"), c.routing());
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "application/json");
  CHECK(reply.body.starts_with("{\"version\":\"9\","));
  CHECK(c.collected == 1);
}

TEST_CASE("GET /metrics is the Prometheus text, collected once; POST is 405") {
  Counting c;
  const auto reply = route_stats_request(request("GET", "/metrics"), c.routing());
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(reply.body.find("ferry_build_info{version=\"9\"} 1\n") != std::string::npos);
  CHECK(c.collected == 1);
  CHECK(route_stats_request(request("POST", "/metrics"), c.routing()).status == 405);
  CHECK(c.collected == 1);
}

TEST_CASE("/live is 200 without collecting; /ready says 503 while starting") {
  Counting c;
  const auto live = route_stats_request(request("GET", "/live"), c.routing());
  CHECK(live.status == 200);
  CHECK(c.collected == 0);
  const auto ready = route_stats_request(request("GET", "/ready"), c.routing());
  CHECK(ready.status == 503);
  CHECK(ready.body.starts_with("starting: "));
  CHECK(c.collected == 1);
}

TEST_CASE("an unknown path is 404 and another method 405, without collecting") {
  Counting c;
  CHECK(route_stats_request(request("GET", "/nope"), c.routing()).status == 404);
  CHECK(route_stats_request(request("GET", "/metrics/"), c.routing()).status == 404);
  CHECK(route_stats_request(request("POST", "/"), c.routing()).status == 405);
  CHECK(c.collected == 0);
}

TEST_CASE("the bytes: status line, type, length, close; HEAD without the body") {
  const StatsReply reply{200, "application/json", "{}"};
  CHECK(stats_reply_bytes(reply, false) ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nCache-Control: no-store\r\n"
        "Connection: close\r\n\r\n{}");
  CHECK(stats_reply_bytes(reply, true)
            .ends_with("Content-Length: 2\r\nCache-Control: no-store\r\nConnection: "
                       "close\r\n\r\n"));
  const auto bad = stats_error_reply(400, "bad request line");
  CHECK(stats_reply_bytes(bad, false).starts_with("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain"));
  CHECK(bad.body == "bad request line\n");
}
