#pragma once

// A worker process: loads the app, then accepts connections on the inherited listening
// sockets and serves one request per connection (nginx never reuses uwsgi connections).

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "config/config.hpp"
#include "worker/stats_counters.hpp"

namespace ferry::wsgi {
class App;
}

namespace ferry::worker {
class TlsContext;
}

namespace ferry::worker {

// Counters in memory shared by the master and all workers (mmap'd before the first fork).
struct SharedCounters {
  // One per live worker (the master hands out the index), so the master can say how
  // many requests a worker served even after it crashed.
  static constexpr int kWorkerSlots = 4096;

  // What a worker is serving ("GET /path"), so that the master's line for a worker that
  // died (a segfault, os._exit, SIGKILL) names the request that killed it. Written at
  // each request's start by plain stores: the master reads it only once the worker is
  // dead. With threads it is the latest request begun.
  struct InFlight {
    static constexpr std::size_t kText = 120;
    std::atomic<std::uint32_t> length{0};  // 0: between requests
    std::atomic<std::int32_t> core{0};     // the thread that wrote it, which alone clears it
    char text[kText];
  };

  // The core pool: each worker gets `threads` consecutive records (CounterSlots hands them
  // out), so a thousand workers of a thousand threads need not reserve 4096 x 1024.
  static constexpr int kCoreSlots = 65536;
  static constexpr int kWorkerIds = 1024;  // processes' most; ids are 1..kWorkerIds

  std::atomic<std::uint64_t> requests{0};  // every worker, for the request log's "req: N/TOTAL"
  std::atomic<std::uint64_t> served[kWorkerSlots];
  InFlight in_flight[kWorkerSlots];
  WorkerCounters workers[kWorkerSlots];  // the stats server's, by slot
  CoreCounters cores[kCoreSlots];
  IdRecord ids[kWorkerIds + 1];  // the master's, by worker id (StatsHistory)
};
// The memfd starts as zeros, which is every member's initial value: the master maps it
// without constructing it, so pages no worker uses are never touched (about 23 MB of
// address space, a few KB of memory per live worker).
static_assert(std::is_trivially_destructible_v<SharedCounters>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

struct WorkerSetup {
  const config::Config* config = nullptr;
  std::vector<int> listen_fds;       // uwsgi: accepted by the serving threads
  std::vector<int> http_listen_fds;  // HTTP: accepted by the worker's HTTP front thread
  // One per fd above: ssl-socket's and https's contexts (the master's, inherited across
  // fork), nullptr for a plain listener.
  std::vector<TlsContext*> listen_tls, http_listen_tls;
  // One per uwsgi fd: systemd passed it (socket activation), so a stop leaves it listening.
  std::vector<bool> listen_activated;
  int events_fd = -1;       // write end of the master's event pipe
  int request_log_fd = -1;  // request lines go here when they have a pipe of their own; else 2
  int slot = 0;
  SharedCounters* counters = nullptr;
  int counter_slot = 0;  // this worker's index in counters->served
  // preload: the app the master imported, as this fresh fork's copy; nullptr: the worker
  // imports it itself.
  wsgi::App* preloaded = nullptr;
  // Other workers are serving (a reload, a recycle, a respawn): the app is imported at a
  // lower CPU priority (ImportPriority).
  bool others_serving = false;
};

// Returns the process exit code: kExitOk after a graceful stop, kExitAppLoad if the app
// did not load, kExitWorkerBoot if the worker could not get ready around it. The caller
// _exits with it; a worker never returns into the master's code.
int run_worker(const WorkerSetup& setup);

}  // namespace ferry::worker
