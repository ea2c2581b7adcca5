#pragma once

// What a worker's serving threads share: made once by run_worker, with named fields.

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "common/unique_fd.hpp"
#include "worker/http_front.hpp"
#include "worker/recycling.hpp"
#include "worker/request_clock.hpp"
#include "worker/request_log_format.hpp"
#include "worker/static_files.hpp"
#include "worker/uwsgi_listeners.hpp"
#include "worker/worker.hpp"

namespace ferry::worker {

struct WorkerState {
  const WorkerSetup& setup;
  std::shared_ptr<spdlog::logger> log;
  RecyclePolicy recycle;
  int timeout_ms = 0;               // socket-timeout
  std::size_t buffer_capacity = 0;  // a serving thread's packet buffer
  bool log_requests = true;
  int pid = 0;
  std::chrono::steady_clock::time_point serving_since{};  // for min-worker-lifetime
  std::unique_ptr<RequestClock> clock{};                  // only with harakiri
  std::atomic<bool> retire_requested{false};
  UniqueFd statm{};                        // /proc/self/statm, only when recycle.watches_memory()
  std::unique_ptr<StaticFiles> statics{};  // only with static-map
  std::unique_ptr<ReadyQueue> ready{};     // requests the front has read
  std::unique_ptr<HttpFront> front{};
  std::vector<TlsContext*> uwsgi_tls{};  // pairs with setup.listen_fds: ssl-socket's context, or nullptr
  AcceptRefusals refusals{};
  std::unique_ptr<RequestLogFormatter> log_shape{};  // only when the request log is shaped
};

}  // namespace ferry::worker
