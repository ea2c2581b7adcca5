#pragma once

// One request's lifecycle once its protocol is done (uwsgi packet or HTTP head): the
// harakiri clock and the in-flight record, limit-post, static-map or the app, the counts
// and the request log line.

#include <chrono>
#include <cstdint>
#include <string>

#include "worker/exchange.hpp"
#include "worker/worker_state.hpp"

namespace ferry::wsgi {
class RequestHandler;
}

namespace ferry::worker {

class RequestRun {
 public:
  RequestRun(WorkerState& state, wsgi::RequestHandler& handler, int core)
      : state_(state), handler_(handler), core_(core) {}

  // exchange.facts is filled; its body (`content_length` bytes) is started.
  void run(Exchange& exchange, std::uint64_t content_length, std::chrono::steady_clock::time_point started);

  // This worker's count, in the memory the master reads when the worker exits.
  std::atomic<std::uint64_t>& served_here() { return state_.setup.counters->served[state_.setup.counter_slot]; }

 private:
  // static-map: a file under a mapped prefix is answered here, before the app.
  bool serve_static(Exchange& exchange);
  // This thread's record in the core pool; nullptr when the pool had no room for it.
  CoreCounters* core_counters() const;
  static void count(const Exchange& exchange, std::int64_t micros, bool static_file, WorkerCounters& counters,
                    CoreCounters* core);

  WorkerState& state_;
  wsgi::RequestHandler& handler_;
  int core_;
  std::string line_;  // the request log line, its capacity kept
};

}  // namespace ferry::worker
