#pragma once

// One reading of everything the operations surface reports: what the master collects from
// the shared counters, /proc and the kernel's listen queues, as plain data. The stats
// server renders it as uWSGI's stats JSON (so uwsgitop and existing exporters work), as
// Prometheus text (/metrics), and answers /ready from it. Collecting it never blocks a
// worker and never takes the GIL; rendering it is pure code with unit tests.

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ferry::master {

// A request a core is serving right now (ferry's addition to uWSGI's cores[]).
struct CurrentRequest {
  std::string method;
  std::string uri;
  std::string remote_addr;
  double seconds = 0;           // since it began
  std::int64_t started_at = 0;  // epoch seconds (uWSGI's req_info.request_start)
};

struct CoreSnapshot {
  int id = 0;  // the thread, from 0
  std::uint64_t requests = 0;
  std::uint64_t static_requests = 0;
  std::uint64_t routed_requests = 0;     // always 0: ferry has no internal routing
  std::uint64_t offloaded_requests = 0;  // always 0: ferry has no offload threads
  std::uint64_t write_errors = 0;
  std::uint64_t read_errors = 0;
  bool in_request = false;
  CurrentRequest current;  // meaningful when in_request
};

struct AppSnapshot {
  int id = 0;
  int modifier1 = 0;
  std::string mountpoint;         // "" for the main app
  std::int64_t startup_time = 0;  // seconds the import took, as uWSGI reports it
  std::uint64_t requests = 0;
  std::uint64_t exceptions = 0;
  std::string chdir;
};

// Counts that only grow while the master runs: the worker id's current process plus every
// earlier process with that id (a respawn or a reload does not reset them), so that
// Prometheus counters labelled by worker never go down except when the master restarts.
struct LifetimeCounts {
  std::uint64_t requests = 0;
  std::uint64_t exceptions = 0;
  std::uint64_t harakiri = 0;
  std::uint64_t tx_bytes = 0;
  // Responses by status class: [0] 1xx, [1] 2xx, [2] 3xx, [3] 4xx, [4] 5xx, [5] anything else.
  std::array<std::uint64_t, 6> responses_by_class{};
  // Request durations: bucket_counts[i] requests took at most duration_bounds[i] seconds
  // (cumulative, as Prometheus histograms are); the last entry is +Inf (== requests).
  std::vector<std::uint64_t> bucket_counts;
  double duration_seconds_sum = 0;
};

struct WorkerSnapshot {
  int id = 0;  // 1..processes, as uWSGI numbers them
  pid_t pid = 0;
  bool accepting = false;            // ready and serving
  std::uint64_t requests = 0;        // this process's
  std::uint64_t delta_requests = 0;  // since the previous stats reading
  std::uint64_t exceptions = 0;
  std::uint64_t harakiri_count = 0;
  std::uint64_t signals = 0;  // always 0: ferry has no uWSGI signal framework
  std::uint64_t signal_queue = 0;
  std::string status;              // "idle", "busy", "cheap", "pause" or "sig"
  std::uint64_t rss = 0;           // bytes
  std::uint64_t vsz = 0;           // bytes
  std::uint64_t running_time = 0;  // microseconds spent serving requests
  std::int64_t last_spawn = 0;     // epoch seconds
  std::uint64_t respawn_count = 0;
  std::uint64_t tx = 0;         // bytes sent
  std::uint64_t avg_rt = 0;     // microseconds
  std::uint64_t in_flight = 0;  // requests running now (one per busy core)
  std::vector<AppSnapshot> apps;
  std::vector<CoreSnapshot> cores;  // one per thread
  LifetimeCounts lifetime;
};

struct SocketSnapshot {
  std::string name;             // as configured: a path or host:port
  std::string proto;            // "uwsgi" or "http"; "suwsgi" or "https" with TLS
  std::uint64_t queue = 0;      // connections waiting in the kernel's accept queue now
  std::uint64_t max_queue = 0;  // the backlog it was listened with
  bool shared = false;
  bool can_offload = false;
};

struct StatsSnapshot {
  // What ferry's master is doing, for /ready and ferry_workers.
  enum class Phase { starting, serving, reloading, stopping };

  std::string version;                    // ferry's
  std::uint64_t listen_queue = 0;         // sum over sockets
  std::uint64_t listen_queue_errors = 0;  // connections the kernel dropped (full queue)
  std::uint64_t signal_queue = 0;
  std::uint64_t load = 0;  // requests running now, over every worker
  pid_t pid = 0;           // the master's
  uid_t uid = 0;
  gid_t gid = 0;
  std::string cwd;
  std::vector<SocketSnapshot> sockets;
  std::vector<WorkerSnapshot> workers;

  Phase phase = Phase::starting;
  int configured_workers = 0;           // processes
  std::uint64_t respawns_total = 0;     // workers started again after one exited or was recycled
  std::int64_t started_at = 0;          // the master's start, epoch seconds
  std::vector<double> duration_bounds;  // seconds, ascending; LifetimeCounts::bucket_counts has one more
};

}  // namespace ferry::master
