#pragma once

// What a worker counts for the stats server, in the memory it shares with the master
// (SharedCounters): per worker process, and per core (serving thread), from a pool the
// master hands out in ranges. The worker writes with relaxed atomics, and the request a
// core is serving under a sequence lock; the master reads without ever waiting for a worker
// (a reading that races a write is retried a few times, then shown as it was last whole).
// No syscall and no lock on the request path.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ferry::worker {

// The request-duration histogram's upper bounds, in seconds: suited to web requests,
// from a cache hit to a slow report. The last bucket (+Inf) is implied.
inline constexpr std::array<double, 13> kDurationBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                        1,     2.5,  5,     10,   30,  60};

// The bucket a request of `micros` falls in: the first bound it does not exceed, or
// kDurationBounds.size() (+Inf).
inline std::size_t duration_bucket(std::uint64_t micros) {
  for (std::size_t i = 0; i < kDurationBounds.size(); ++i) {
    if (static_cast<double>(micros) <= kDurationBounds[i] * 1e6) return i;
  }
  return kDurationBounds.size();
}

// 1xx..5xx -> 0..4; anything else (0: nothing was sent) -> 5.
inline std::size_t status_class(int status) { return status >= 100 && status < 600 ? status / 100 - 1 : 5; }

struct WorkerCounters {
  // A worker's own requests are SharedCounters::served (the master has read that since
  // before there were stats).
  std::atomic<std::uint64_t> exceptions{0};               // the app raised, or failed its response
  std::atomic<std::uint64_t> tx_bytes{0};                 // response heads and bodies sent
  std::atomic<std::uint64_t> running_us{0};               // time spent in requests
  std::atomic<std::uint32_t> in_flight{0};                // requests running now
  std::array<std::atomic<std::uint64_t>, 6> responses{};  // by status_class()
  std::array<std::atomic<std::uint64_t>, kDurationBounds.size() + 1> durations{};  // by duration_bucket()
  // The cores the master gave this worker: pool indexes [first_core, first_core + cores).
  std::atomic<std::int32_t> first_core{0};
  std::atomic<std::int32_t> cores{0};
};

// A plain copy of a worker's counts, as the master reads them.
struct WorkerTotals {
  std::uint64_t requests = 0, exceptions = 0, tx_bytes = 0, running_us = 0;
  std::array<std::uint64_t, 6> responses{};
  std::array<std::uint64_t, kDurationBounds.size() + 1> durations{};  // per bucket, not cumulative
};
WorkerTotals read_totals(const WorkerCounters& counters, std::uint64_t requests);

// The master's own record per worker id: how often it was started, how many of its
// processes harakiri killed, and what the exited ones counted. In the shared memory only so
// that a re-executed master (a preload reload) keeps folding onto the same totals; no
// worker touches it.
struct IdRecord {
  std::uint64_t spawns = 0;
  std::uint64_t harakiri = 0;
  WorkerTotals exited;
};
// Back to zero, for a new worker in the slot; the core range is left as it is.
void clear(WorkerCounters& counters);
struct CoreCounters;
void clear(CoreCounters& core);

struct CoreCounters {
  static constexpr std::size_t kMethod = 16, kUri = 256, kRemote = 48;

  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> static_requests{0};
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> read_errors{0};

  // The request being served: odd `sequence` while the worker rewrites it.
  std::atomic<std::uint32_t> sequence{0};
  std::atomic<std::uint32_t> in_request{0};
  std::atomic<std::int64_t> started_us{0};  // epoch microseconds
  std::atomic<std::uint8_t> method_length{0}, remote_length{0};
  std::atomic<std::uint16_t> uri_length{0};
  char method[kMethod];
  char uri[kUri];
  char remote[kRemote];
};

// The worker, as a request starts on `core`: what it is, truncated to fit.
void begin_core_request(CoreCounters& core, std::string_view method, std::string_view uri, std::string_view remote,
                        std::chrono::system_clock::time_point started);
// ... and as it ends.
inline void end_core_request(CoreCounters& core) { core.in_request.store(0, std::memory_order_release); }

struct CoreRequest {
  bool in_request = false;
  std::string_view method, uri, remote;  // into the caller's buffers below
  std::int64_t started_us = 0;
  char method_buffer[CoreCounters::kMethod];
  char uri_buffer[CoreCounters::kUri];
  char remote_buffer[CoreCounters::kRemote];
};

// The master: a consistent copy of the request on `core`, without waiting for the worker.
// False if it stayed mid-write over a few tries (then `out` says not in a request).
bool read_core_request(const CoreCounters& core, CoreRequest& out);

}  // namespace ferry::worker
