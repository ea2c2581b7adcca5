#include "master/stats_collect.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "ferry_build_config.hpp"

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
    socket.proto = listener.http ? "http" : "uwsgi";
    s.sockets.push_back(std::move(socket));
  }

  auto workers = in.supervisor.workers();
  std::sort(workers.begin(), workers.end(), [](const auto& a, const auto& b) {
    return std::pair(a.slot, a.generation) < std::pair(b.slot, b.generation);
  });
  const auto apps = apps_of(in.config);
  for (const auto& w : workers) {
    WorkerSnapshot worker;
    worker.id = w.slot;
    worker.pid = w.pid;
    worker.accepting = w.ready && !w.retiring;
    worker.status = "idle";
    worker.last_spawn = epoch_seconds(wall_time(w.started));
    worker.apps = apps;
    for (int core = 0; core < in.config.threads; ++core) {
      CoreSnapshot snapshot;
      snapshot.id = core;
      worker.cores.push_back(std::move(snapshot));
    }
    s.workers.push_back(std::move(worker));
  }
  return s;
}

}  // namespace ferry::master
