#pragma once

// What the stats address answers over HTTP (stats-http): one function from a parsed request
// head to a whole response, so the routes are one table to read and to unit-test. The
// snapshot is collected only for a route that shows it. Pure: the server does the I/O.

#include <functional>
#include <string>
#include <string_view>

#include "master/stats_snapshot.hpp"
#include "protocol/http.hpp"

namespace ferry::master {

struct StatsReply {
  int status = 200;
  std::string content_type;
  std::string body;
};

struct StatsRouting {
  std::function<StatsSnapshot()> collect;  // called at most once per request
  bool minified = false;
};

// GET (or HEAD) / -> the stats JSON; /metrics -> Prometheus text (metrics.hpp); /ready ->
// 200 or 503 (readiness.hpp); /live -> 200; another path -> 404; another method -> 405.
StatsReply route_stats_request(const protocol::http::Head& head, const StatsRouting& routing);

// A parse error's answer: `status` (400, 414, 431...) and a one-line plain-text body.
StatsReply stats_error_reply(int status, std::string_view reason);

// The bytes to send: status line, Content-Type, Content-Length, Connection: close, then
// the body (not for HEAD). The server closes after every response.
std::string stats_reply_bytes(const StatsReply& reply, bool head_only);

}  // namespace ferry::master
