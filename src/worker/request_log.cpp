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

template <typename Integer>
void append_number(std::string& out, Integer value) {
  const fmt::format_int digits(value);
  out.append(digits.data(), digits.size());
}

}  // namespace

void format_request_line(std::string& out, const RequestLogEntry& e) {
  // uWSGI counts keys and values separately in "{N vars ...}"; keep its numbers. What the
  // client sent is escaped (append_log_safe): one request is one line, whatever its URI
  // holds. Built by appends rather than fmt::format_to: parsing the format string at run
  // time was a third of a hello-world request's CPU (docs/benchmarks.md, "The request log").
  out += "[pid: ";
  append_number(out, e.pid);
  out += "|app: ";
  append_number(out, e.app_id);
  out += "|req: ";
  append_number(out, e.worker_requests);
  out += '/';
  append_number(out, e.total_requests);
  out += "] ";
  append_log_safe(out, e.client());
  out += " (";
  append_log_safe(out, e.facts->remote_user);
  out += ") {";
  append_number(out, e.var_count * 2);
  out += " vars in ";
  append_number(out, e.vars_bytes);
  out += " bytes} [";
  out += date_for(e.started);
  out += "] ";
  append_log_safe(out, e.facts->method);
  out += ' ';
  append_log_safe(out, e.facts->uri);
  out += " => generated ";
  append_number(out, e.body_bytes);
  out += " bytes in ";
  append_number(out, e.msecs);
  out += " msecs (";
  append_log_safe(out, e.facts->protocol);
  out += ' ';
  append_number(out, e.status);
  out += ") ";
  append_number(out, e.header_count);
  out += " headers in ";
  append_number(out, e.header_bytes);
  out += " bytes (1 switches on core ";
  append_number(out, e.core);
  out += ")\n";
}

}  // namespace ferry::worker
