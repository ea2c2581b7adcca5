#include "worker/request_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fmt/format.h>

#include "common/logging.hpp"
#include "protocol/uwsgi.hpp"
#include "worker/request_log.hpp"
#include "worker/worker_signals.hpp"
#include "wsgi/app.hpp"

namespace ferry::worker {

// Everything after the protocol: limits, static files, the app, the request log.
void RequestRun::run(Exchange& exchange, std::uint64_t content_length, std::chrono::steady_clock::time_point started) {
  const protocol::RequestFacts& facts = exchange.facts;
  if (state_.clock) state_.clock->begin(core_, exchange.fd(), facts.method, facts.uri, started);
  auto& in_flight = state_.setup.counters->in_flight[state_.setup.counter_slot];
  const auto text =
      fmt::format_to_n(in_flight.text, sizeof in_flight.text, "{} {}", LogSafe{facts.method}, LogSafe{facts.uri});
  in_flight.core.store(core_, std::memory_order_relaxed);
  in_flight.length.store(static_cast<std::uint32_t>(std::min(text.size, sizeof in_flight.text)),
                         std::memory_order_release);
  note_client_fd(core_, exchange.fd());
  const auto wall_now = std::chrono::system_clock::now();
  auto& counters = state_.setup.counters->workers[state_.setup.counter_slot];
  CoreCounters* const core = core_counters();
  counters.in_flight.fetch_add(1, std::memory_order_relaxed);
  if (core) begin_core_request(*core, facts.method, facts.uri, facts.remote_addr, wall_now);
  struct RequestEnd {  // every return below ends the request's harakiri clock and in-flight records
    RequestClock* clock;
    SharedCounters::InFlight& in_flight;
    WorkerCounters& counters;
    CoreCounters* core_counters;
    int core;
    ~RequestEnd() {
      if (clock) clock->end(core);
      note_client_fd(core, -1);
      if (in_flight.core.load(std::memory_order_relaxed) == core) in_flight.length.store(0, std::memory_order_relaxed);
      if (core_counters) end_core_request(*core_counters);
      counters.in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
  } request_end{state_.clock.get(), in_flight, counters, core, core_};
  const std::time_t wall_start = std::chrono::system_clock::to_time_t(wall_now);
  const auto limit = state_.setup.config->limit_post;
  bool static_file = false;
  if (limit > 0 && content_length > limit) {  // counted and logged below like any response
    state_.log->warn("refused {} {} with 413: its body of {} bytes is above limit-post = {}", LogSafe{facts.method},
                     LogSafe{facts.uri}, content_length, limit);
    exchange.send_plain(413);
  } else {
    static_file = state_.statics && serve_static(exchange);
    if (!static_file) handler_.handle(exchange);
    if (is_forked_child()) ::_exit(0);  // the app forked and this is the child: see worker_signals.hpp
  }
  exchange.discard_body();  // after a 413 too, so nginx reads it instead of a connection reset

  const auto served = served_here().fetch_add(1, std::memory_order_relaxed) + 1;
  const auto total = state_.setup.counters->requests.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const auto micros =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  count(exchange, static_cast<std::int64_t>(micros), static_file, counters, core);
  if (!state_.log_requests && !state_.log_shape) return;
  RequestLogEntry entry{state_.pid,
                        exchange.app_id,
                        served,
                        total,
                        &facts,
                        exchange.packet.vars.size(),
                        exchange.packet.vars_bytes,
                        wall_start,
                        micros / 1000,
                        exchange.body_bytes,
                        exchange.status,
                        exchange.header_count,
                        exchange.header_bytes,
                        core_};
  line_.clear();
  if (!state_.log_shape) {
    format_request_line(line_, entry);
  } else {
    const auto& shape = state_.setup.config->request_log;
    if (!state_.log_requests && !kept_by_filters(shape, entry.msecs, entry.status, entry.body_bytes)) return;
    entry.micros = micros;
    entry.content_length = content_length;
    entry.worker_id = state_.setup.slot;
    entry.vars = exchange.packet.vars;
    entry.now = std::time(nullptr);
    if (shape.x_forwarded_for) {
      for (const auto& var : exchange.packet.vars) {
        if (var.key == "HTTP_X_FORWARDED_FOR") entry.remote_addr = forwarded_client(var.value);
      }
    }
    state_.log_shape->append(line_, entry, state_.log_shape->needs_memory() ? memory_figures() : MemoryFigures{});
  }
  write_fully(state_.setup.request_log_fd >= 0 ? state_.setup.request_log_fd : 2, line_);
}

// /proc/self/statm's first two numbers (pages), for %(vsz) and %(rss).
MemoryFigures RequestRun::memory_figures() const {
  char text[128];
  const ssize_t n = state_.statm ? ::pread(state_.statm.get(), text, sizeof text, 0) : -1;
  if (n <= 0) return {};
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t size = 0, resident = 0;
  const char* end = text + n;
  auto [after_size, ec] = std::from_chars(text, end, size);
  if (ec == std::errc() && after_size < end) std::from_chars(after_size + 1, end, resident);
  return {resident * page, size * page};
}

CoreCounters* RequestRun::core_counters() const {
  const auto& w = state_.setup.counters->workers[state_.setup.counter_slot];
  if (core_ >= w.cores.load(std::memory_order_relaxed)) return nullptr;  // the pool was full
  return &state_.setup.counters->cores[w.first_core.load(std::memory_order_relaxed) + core_];
}

// The stats server's counts: relaxed atomic adds into memory the master reads.
void RequestRun::count(const Exchange& exchange, std::int64_t micros, bool static_file, WorkerCounters& counters,
                       CoreCounters* core) {
  constexpr auto relaxed = std::memory_order_relaxed;
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(micros, 0));
  counters.tx_bytes.fetch_add(exchange.header_bytes + exchange.body_bytes, relaxed);
  counters.running_us.fetch_add(us, relaxed);
  counters.responses[status_class(exchange.status)].fetch_add(1, relaxed);
  counters.durations[duration_bucket(us)].fetch_add(1, relaxed);
  if (exchange.app_failed) counters.exceptions.fetch_add(1, relaxed);
  if (!core) return;
  core->requests.fetch_add(1, relaxed);
  if (static_file) core->static_requests.fetch_add(1, relaxed);
  if (exchange.write_failed) core->write_errors.fetch_add(1, relaxed);
  if (exchange.read_failed) core->read_errors.fetch_add(1, relaxed);
}

// static-map: a file under a mapped prefix is answered here, before the app.
bool RequestRun::serve_static(Exchange& exchange) {
  const auto& facts = exchange.facts;
  if (facts.method != "GET" && facts.method != "HEAD") return false;
  std::string_view if_modified_since;
  for (const auto& var : exchange.packet.vars) {
    if (var.key == "HTTP_IF_MODIFIED_SINCE") if_modified_since = var.value;
  }
  auto decision = state_.statics->resolve(facts.path_info.empty() ? facts.uri : facts.path_info, if_modified_since);
  using Kind = StaticDecision::Kind;
  if (decision.kind == Kind::not_mapped || decision.kind == Kind::not_found) return false;
  exchange.is_head = facts.method == "HEAD";
  if (decision.kind == Kind::forbidden) {
    state_.log->warn("static-map refused {} {}: {}", LogSafe{facts.method}, LogSafe{facts.uri}, decision.reason);
    exchange.send_plain(403);
    return true;
  }
  const bool modified = decision.kind == Kind::serve;
  exchange.status = modified ? 200 : 304;
  std::string head =
      fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nLast-Modified: {}\r\n", modified ? "200 OK" : "304 Not Modified",
                  decision.content_type, decision.last_modified);
  if (modified) head += fmt::format("Content-Length: {}\r\n", decision.size);
  head += "\r\n";
  exchange.header_count = modified ? 3 : 2;
  exchange.frame_head(head, true, std::nullopt);
  exchange.header_bytes = head.size();
  if (!exchange.write(head) || !modified || exchange.is_head) return true;
  std::uint64_t sent = 0;
  exchange.send_file(decision.file.get(), 0, decision.size, sent);
  exchange.body_bytes = sent;
  if (sent < decision.size) exchange.close_after_response();  // the file shrank: the head promised more
  return true;
}

}  // namespace ferry::worker
