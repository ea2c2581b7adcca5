#include "master/stats_routes.hpp"

#include <fmt/format.h>

#include "master/metrics.hpp"
#include "master/readiness.hpp"
#include "master/stats_json.hpp"
#include "protocol/http_response.hpp"

namespace ferry::master {
namespace {

StatsReply plain(int status, std::string_view text) {
  return {status, "text/plain; charset=utf-8", protocol::http::plain_body(text)};
}

}  // namespace

StatsReply route_stats_request(const protocol::http::Head& head, const StatsRouting& routing) {
  const std::string& path = head.path_info;
  const bool known = path == "/" || path == "/metrics" || path == "/ready" || path == "/live";
  if (!known) return plain(404, "no such page: the stats server serves /, /metrics, /ready and /live");
  if (head.method != "GET" && head.method != "HEAD") return plain(405, "use GET");
  if (path == "/live") return plain(200, "alive");  // answered by the master's loop, so it runs
  if (path == "/ready") {
    const auto verdict = readiness(routing.collect());
    return plain(verdict.ready ? 200 : 503, verdict.reason);
  }
  if (path == "/metrics") return {200, std::string(kPrometheusContentType), prometheus_text(routing.collect())};
  return {200, "application/json", stats_json(routing.collect(), routing.minified)};
}

StatsReply stats_error_reply(int status, std::string_view reason) { return plain(status, reason); }

std::string stats_reply_bytes(const StatsReply& reply, bool head_only) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: "
      "close\r\n\r\n",
      reply.status, protocol::http::reason_phrase(reply.status), reply.content_type, reply.body.size());
  if (!head_only) out += reply.body;
  return out;
}

}  // namespace ferry::master
