#include "worker/worker.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <thread>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/import_priority.hpp"
#include "common/logging.hpp"
#include "common/process_title.hpp"
#include "protocol/uwsgi.hpp"
#include "worker/harakiri.hpp"
#include "worker/serving_thread.hpp"
#include "worker/stop_drain.hpp"
#include "worker/worker_signals.hpp"
#include "worker/worker_state.hpp"
#include "wsgi/app.hpp"

namespace ferry::worker {
namespace {

// Body bytes read together with the packet, so a small POST costs no extra read.
constexpr std::size_t kBodyPrefetch = 16 * 1024;
// limit-as: the worker's address space is capped with RLIMIT_AS once the app is loaded,
// so an allocation past it fails (a MemoryError in Python, a 500 for that request) instead
// of the machine swapping or the OOM killer choosing a victim. reload-on-rss only looks
// after a request ends, too late for a request that leaks gigabytes.
bool limit_address_space(std::uint64_t mb, spdlog::logger& log) {
  const rlim_t bytes = static_cast<rlim_t>(mb) << 20;
  std::uint64_t now_mb = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "re")) {
    unsigned long long pages = 0;
    if (std::fscanf(f, "%llu", &pages) == 1) now_mb = pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) >> 20;
    std::fclose(f);
  }
  if (now_mb >= mb) {
    log.error(
        "limit-as = {} MB is below the {} MB of address space this worker has with the app loaded; raise limit-as", mb,
        now_mb);
    return false;
  }
  rlimit limit{};
  ::getrlimit(RLIMIT_AS, &limit);
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? bytes : std::min(bytes, limit.rlim_max);
  if (::setrlimit(RLIMIT_AS, &limit) != 0) {
    log.error("limit-as = {} MB: setrlimit(RLIMIT_AS) failed: {}", mb, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

// A boot failure returns kExitAppLoad when the app itself did not import, kExitWorkerBoot
// for anything else, after logging one error line: the master quotes it (boot_error.hpp).
int run_worker(const WorkerSetup& setup) {
  const config::Config& config = *setup.config;
  install_signal_handlers();
  auto log = make_fd_logger(fmt::format("worker{}", setup.slot), 2);
  if (config.auto_procname) set_process_title(fmt::format("{}ferry worker {}", config.procname_prefix, setup.slot));

  for (const auto& [key, value] : config.env) ::setenv(key.c_str(), value.c_str(), 1);
  if (!config.chdir.empty() && ::chdir(config.chdir.c_str()) != 0) {
    log->error("chdir = {}: {}; fix the path", config.chdir, std::strerror(errno));
    return kExitWorkerBoot;
  }
  std::unique_ptr<wsgi::App> loaded_here;
  wsgi::App* app = setup.preloaded;  // made ready for this worker by the fork's child hook
  if (app == nullptr) {
    const ImportPriority priority(setup.others_serving);
    loaded_here = wsgi::App::load(config, wsgi::WorkerInfo::for_worker(config, setup.slot));
    if (!loaded_here) return kExitAppLoad;
    app = loaded_here.get();
  }
  // kill -USR2 <worker pid> dumps its Python stacks into the log; harakiri relies on it.
  if (!app->enable_stack_dumps(kStackDumpSignal) && config.harakiri > 0) return kExitWorkerBoot;
  // Before begin_serving, while an early return still unwinds cleanly: the serving
  // threads and the front are started under the limit, their stacks counted in it.
  if (config.limit_as_mb > 0 && !limit_address_space(config.limit_as_mb, *log)) return kExitWorkerBoot;
  // Before begin_serving too: once the GIL is released, returning would free the app's
  // Python objects without it (a fatal error, SIGABRT, in place of this exit code).
  std::unique_ptr<StaticFiles> statics;
  if (!config.static_maps.empty()) {
    try {
      statics = std::make_unique<StaticFiles>(config.static_maps, MimeTypes::load());
    } catch (const std::exception& e) {
      log->error("static-map: {}; fix the directory", e.what());
      return kExitWorkerBoot;
    }
  }
  app->begin_serving();

  WorkerState state{
      .setup = setup,
      .log = log,
      .recycle = RecyclePolicy::from(config, setup.slot),
      .timeout_ms = config.socket_timeout * 1000,
      .buffer_capacity = protocol::kHeaderSize + config.buffer_size + kBodyPrefetch,
      .log_requests = !config.disable_logging,
      .pid = static_cast<int>(::getpid()),
      .serving_since = std::chrono::steady_clock::now(),
      .statics = std::move(statics),
      .uwsgi_tls = setup.listen_tls,
  };
  state.uwsgi_tls.resize(setup.listen_fds.size());
  std::vector<TlsContext*> http_tls = setup.http_listen_tls;
  http_tls.resize(setup.http_listen_fds.size());
  // The first handler adopts the loading thread's Python state, so make it here.
  auto main_handler = app->make_handler();
  if (const auto& shape = config.request_log;
      shape.format || shape.date || shape.json || shape.filtered() || shape.x_forwarded_for) {
    state.log_shape = std::make_unique<RequestLogFormatter>(shape);
  }
  if (state.recycle.watches_memory() || (state.log_shape && state.log_shape->needs_memory())) {
    state.statm.reset(::open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
  }
  // The front runs even without HTTP listeners: it waits for the uwsgi packets that did
  // not arrive with their connection (kPacketGraceMs), so idle clients cost no thread.
  state.ready = std::make_unique<ReadyQueue>();
  std::vector<DrainListener> drain;
  for (std::size_t i = 0; i < setup.listen_fds.size(); ++i) {
    drain.push_back({setup.listen_fds[i], state.uwsgi_tls[i], !setup.listen_activated.at(i)});
  }
  auto at_stop = [&state, drain = std::move(drain)] {
    if (!drain_requested()) return;
    if (const auto taken = drain_listeners(drain, *state.ready, state.front->limits()); taken > 0) {
      state.log->info("stopping: answering {} connection{} that waited in the socket's queue", taken,
                      taken == 1 ? "" : "s");
    }
  };
  state.front = std::make_unique<HttpFront>(config, setup.http_listen_fds, http_tls, *state.ready, stop_fd(), log,
                                            std::move(at_stop));
  std::thread watchdog;
  if (config.harakiri > 0) {
    state.clock = std::make_unique<RequestClock>(config.threads);
    watchdog = start_harakiri_watchdog(
        *state.clock, log, {config.harakiri, config.worker_reload_mercy, setup.slot, state.pid}, request_stop);
  }
  std::vector<int> all_listen_fds = setup.listen_fds;
  all_listen_fds.insert(all_listen_fds.end(), setup.http_listen_fds.begin(), setup.http_listen_fds.end());
  guard_forks_in_requests(all_listen_fds, config.threads);
  if (state.front) state.front->start();
  notify_master(setup.events_fd, EventKind::ready);

  std::vector<std::thread> threads;
  for (int core = 1; core < config.threads; ++core) {
    threads.emplace_back([app, &state, core] {
      auto handler = app->make_handler();
      ServingThread(state, *handler, core).run();
    });
  }
  ServingThread(state, *main_handler, 0).run();
  for (auto& thread : threads) thread.join();
  if (state.front) state.front->join();
  if (state.clock) {
    state.clock->stop();  // before the clock goes: the watchdog waits on it
    watchdog.join();
  }
  app->finish();
  return kExitOk;
}

}  // namespace ferry::worker
