#include "master/stats_collect.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "config/tls_options.hpp"
#include "ferry_build_config.hpp"
#include "master/stats_probes.hpp"

namespace ferry::master {
namespace {

std::int64_t epoch_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A steady_clock moment (the supervisor's clock) on the wall clock.
std::chrono::system_clock::time_point wall_time(Clock::time_point t) {
  const auto ago = Clock::now() - t;
  return std::chrono::system_clock::now() - std::chrono::duration_cast<std::chrono::system_clock::duration>(ago);
}

std::vector<AppSnapshot> apps_of(const config::Config& config) {
  std::vector<AppSnapshot> apps;
  for (const auto& spec : config.apps()) {
    AppSnapshot app;
    app.id = static_cast<int>(apps.size());
    app.mountpoint = spec.mountpoint;
    app.chdir = config.chdir;
    apps.push_back(std::move(app));
  }
  return apps;
}

CoreSnapshot plain_core(int id) {
  CoreSnapshot core;
  core.id = id;
  return core;
}

// The request a core is in now, from its record in the core pool.
CoreSnapshot core_snapshot(int id, const worker::CoreCounters& record, std::chrono::system_clock::time_point now) {
  CoreSnapshot core = plain_core(id);
  core.requests = record.requests.load(std::memory_order_relaxed);
  core.static_requests = record.static_requests.load(std::memory_order_relaxed);
  core.write_errors = record.write_errors.load(std::memory_order_relaxed);
  core.read_errors = record.read_errors.load(std::memory_order_relaxed);
  worker::CoreRequest request;
  if (worker::read_core_request(record, request) && request.in_request) {
    core.in_request = true;
    core.current.method = request.method;
    core.current.uri = request.uri;
    core.current.remote_addr = request.remote;
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    core.current.seconds = static_cast<double>(std::max<std::int64_t>(now_us - request.started_us, 0)) / 1e6;
    core.current.started_at = request.started_us / 1000000;
  }
  return core;
}

// The counts of the live worker in `slot` from the shared memory; returns them as read.
worker::WorkerTotals fill_counts(WorkerSnapshot& worker, const CounterSlots& counters, int slot) {
  const auto* shared = counters.shared();
  const auto& record = shared->workers[slot];
  const auto totals = worker::read_totals(record, shared->served[slot].load(std::memory_order_relaxed));
  worker.requests = totals.requests;
  worker.exceptions = totals.exceptions;
  worker.tx = totals.tx_bytes;
  worker.running_time = totals.running_us;
  worker.avg_rt = totals.requests ? totals.running_us / totals.requests : 0;
  worker.in_flight = record.in_flight.load(std::memory_order_relaxed);
  worker.status = worker.in_flight > 0 ? "busy" : "idle";
  const int first = record.first_core.load(std::memory_order_relaxed);
  const int cores = record.cores.load(std::memory_order_relaxed);  // its own threads, whatever a reload set since
  const auto now = std::chrono::system_clock::now();
  for (int i = 0; i < cores; ++i) worker.cores.push_back(core_snapshot(i, shared->cores[first + i], now));
  return totals;
}

}  // namespace

StatsSnapshot::Phase stats_phase(bool started, bool reloading, bool stopping) {
  if (stopping) return StatsSnapshot::Phase::stopping;
  if (!started) return StatsSnapshot::Phase::starting;
  return reloading ? StatsSnapshot::Phase::reloading : StatsSnapshot::Phase::serving;
}

StatsSnapshot collect_stats(const StatsInputs& in) {
  StatsSnapshot s;
  s.version = FERRY_VERSION;
  s.pid = ::getpid();
  s.uid = ::getuid();
  s.gid = ::getgid();
  std::error_code error;
  s.cwd = std::filesystem::current_path(error).string();
  s.phase = stats_phase(in.supervisor.started(), in.supervisor.reloading(), in.supervisor.stopping());
  s.configured_workers = in.config.processes;
  s.started_at = epoch_seconds(in.started_at);

  for (const auto& listener : in.listeners) {
    SocketSnapshot socket;
    socket.name = listener.address;
    const bool tls = config::is_tls_socket(in.config, listener.address);  // uWSGI's names for them
    socket.proto = listener.http ? (tls ? "https" : "http") : (tls ? "suwsgi" : "uwsgi");
    if (const auto queue = listen_queue(listener)) {
      socket.queue = queue->queue;
      socket.max_queue = queue->max_queue;
      if (in.history && queue->max_queue > 0 && queue->queue >= queue->max_queue) in.history->note_full_queue();
    }
    s.listen_queue += socket.queue;
    s.sockets.push_back(std::move(socket));
  }
  if (in.history) {
    s.listen_queue_errors = in.history->full_queues();
    s.respawns_total = in.history->respawns_total();
  }
  for (const auto bound : worker::kDurationBounds) s.duration_bounds.push_back(bound);

  auto workers = in.supervisor.workers();
  std::sort(workers.begin(), workers.end(), [](const auto& a, const auto& b) {
    return std::pair(a.slot, a.generation) < std::pair(b.slot, b.generation);
  });
  const auto apps = apps_of(in.config);
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const auto& w = workers[i];
    WorkerSnapshot worker;
    worker.id = w.slot;
    worker.pid = w.pid;
    worker.accepting = w.ready && !w.retiring;
    worker.status = "idle";
    worker.last_spawn = epoch_seconds(wall_time(w.started));
    worker.apps = apps;
    const auto slot = in.counters ? in.counters->slot_of(w.pid) : std::nullopt;
    worker::WorkerTotals current;
    const worker::WorkerTotals* live = nullptr;
    if (slot) {
      current = fill_counts(worker, *in.counters, *slot);
      live = &current;
    } else {
      for (int core = 0; core < in.config.threads; ++core) worker.cores.push_back(plain_core(core));
    }
    if (const auto memory = process_memory(w.pid)) {
      worker.rss = memory->rss;
      worker.vsz = memory->vsz;
    }
    if (!worker.apps.empty()) worker.apps[0].requests = worker.requests, worker.apps[0].exceptions = worker.exceptions;
    if (in.history) {
      worker.respawn_count = in.history->spawns(w.slot);
      worker.harakiri_count = in.history->harakiri(w.slot);
      worker.delta_requests = in.history->delta_requests(w.pid, worker.requests);
      // The exited processes' counts go with the first live process of the id only, so
      // that summing over the entries of one id counts each request once.
      const bool first_of_id = i == 0 || workers[i - 1].slot != w.slot;
      worker.lifetime = first_of_id ? in.history->lifetime(w.slot, live) : lifetime_counts(nullptr, live, 0);
    }
    s.load += worker.in_flight;
    s.workers.push_back(std::move(worker));
  }
  return s;
}

}  // namespace ferry::master
