#include "worker/request_log.hpp"

#include <fmt/format.h>

#include "common/logging.hpp"

namespace ferry::worker {
namespace {

// ctime()-style date, formatted once per second per thread.
std::string_view date_for(std::time_t when) {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[32];
  thread_local std::size_t cached_size = 0;
  if (when != cached_second) {
    std::tm local{};
    localtime_r(&when, &local);
    cached_size = std::strftime(cached, sizeof cached, "%a %b %e %H:%M:%S %Y", &local);
    cached_second = when;
  }
  return {cached, cached_size};
}

}  // namespace

void format_request_line(std::string& out, const RequestLogEntry& e) {
  // uWSGI counts keys and values separately in "{N vars ...}"; keep its numbers. What the
  // client sent is escaped (LogSafe): one request is one line, whatever its URI holds.
  fmt::format_to(std::back_inserter(out),
                 "[pid: {}|app: {}|req: {}/{}] {} ({}) {{{} vars in {} bytes}} [{}] {} {} => generated {} bytes "
                 "in {} msecs ({} {}) {} headers in {} bytes (1 switches on core {})\n",
                 e.pid, e.app_id, e.worker_requests, e.total_requests, LogSafe{e.client()},
                 LogSafe{e.facts->remote_user}, e.var_count * 2, e.vars_bytes, date_for(e.started),
                 LogSafe{e.facts->method}, LogSafe{e.facts->uri}, e.body_bytes, e.msecs, LogSafe{e.facts->protocol},
                 e.status, e.header_count, e.header_bytes, e.core);
}

}  // namespace ferry::worker
