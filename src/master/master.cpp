#include "master/master.hpp"
#include "master/serve.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <memory>

#include "common/exit_codes.hpp"
#include "common/logging.hpp"
#include "common/process_title.hpp"
#include "ferry_build_config.hpp"
#include "master/banner.hpp"
#include "master/boot_error.hpp"
#include "master/counter_slots.hpp"
#include "master/handover.hpp"
#include "master/json_log_line.hpp"
#include "master/listeners.hpp"
#include "master/log_collector.hpp"
#include "master/pidfile.hpp"
#include "master/preload.hpp"
#include "master/process.hpp"
#include "master/reexec.hpp"
#include "master/request_log_pipes.hpp"
#include "master/startup_error.hpp"
#include "master/stats_collect.hpp"
#include "master/stats_server.hpp"
#include "master/supervisor.hpp"
#include "master/systemd_notify.hpp"
#include "master/touch_files.hpp"
#include "master/worker_pipe.hpp"
#include "worker/events.hpp"
#include "worker/tls.hpp"
#include "worker/worker.hpp"
#include "wsgi/app.hpp"

namespace ferry::master {
namespace {

class Master {
 public:
  Master(config::Loaded loaded, UniqueFd log_fd, std::vector<Listener> listeners, Preloaded preloaded,
         std::optional<Handover> handover)
      : config_(std::make_shared<config::Config>(std::move(loaded.config))),
        log_fd_(std::move(log_fd)),
        log_file_(log_fd_.get(), config_->logfile),
        // The master's own lines go out after what the workers wrote before them.
        log_(make_logger(
            "master", [this](std::string_view line) { write_own_line(line); }, [this] { flush_outputs(); })),
        listeners_(std::move(listeners)),
        app_(std::move(preloaded.app)),
        python_fds_(std::move(preloaded.python_fds)),
        preload_error_(std::move(preloaded.error)),
        handover_(std::move(handover)),
        signals_(io_, SIGTERM, SIGINT, SIGQUIT),
        children_(io_, SIGCHLD),
        timer_(io_),
        supervisor_(settings_for(*config_)) {
    signals_.add(SIGHUP);
    signals_.add(SIGUSR1);
    signals_.add(SIGUSR2);
    // The handed-over workers' pipes first, so that what they wrote during the re-exec
    // reaches the log before this master's first line.
    if (handover_) {
      for (const auto& w : handover_->workers) {
        if (w.output_fd >= 0) outputs_.add(w.pid, UniqueFd(w.output_fd));
        if (w.request_fd >= 0) request_lines_.add(w.pid, UniqueFd(w.request_fd));
        outputs_.ready(w.pid);  // it served under the previous master: its app is loaded
      }
    }
    if (request_lines_.json_other()) outputs_.encode_as_json();  // log-encoder = json
    for (const auto& warning : loaded.warnings) log_->warn("{}", warning);
    if (config_->daemonize || app_) log_file_.set_mirrors({STDOUT_FILENO, STDERR_FILENO});  // they are the log too
    log_file_.set_rotation({config_->log_maxsize, config_->log_backupname});
  }

  int run() {
    int pipe_fds[2];
    if (handover_) {
      pipe_fds[0] = handover_->events_read;
      pipe_fds[1] = handover_->events_write;
      ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
      std::map<pid_t, int> taken;
      for (const auto& w : handover_->workers) taken[w.pid] = w.counter_slot;
      counters_.emplace(CounterSlots::adopt(handover_->counters_fd, taken));
    } else {
      if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        throw StartupError(fmt::format("pipe: {}", std::strerror(errno)));
      }
      counters_.emplace(CounterSlots::create());
    }
    stats_history_.attach(counters_->shared()->ids);  // a re-exec keeps the totals per worker id
    events_read_ = std::make_unique<asio::posix::stream_descriptor>(io_, pipe_fds[0]);
    events_write_.reset(pipe_fds[1]);

    log_banner(*log_, *config_, listeners_, handover_ ? &*handover_ : nullptr);
    start_stats();
    if (config_->auto_procname) set_process_title(config_->procname_prefix + "ferry master");
    wait_signal();
    wait_child();
    // A re-exec blocked these until now (see reexec()); what arrived meanwhile is delivered.
    const sigset_t blocked = master_signals();
    ::pthread_sigmask(SIG_UNBLOCK, &blocked, nullptr);
    read_events();
    if (handover_) {
      adopt_workers();
    } else {
      execute(supervisor_.start(Clock::now()));
    }
    watch_touch_files();
    io_.run();
    return exit_code_;
  }

  void set_pidfile(Pidfile pidfile) { pidfile_ = std::move(pidfile); }
  void set_tls(worker::TlsContexts tls) { tls_ = std::move(tls); }
  void set_stats_listener(std::optional<Listener> listener) {
    stats_listener_ = std::move(listener);
    if (stats_listener_) std::erase(python_fds_, stats_listener_->fd.get());  // preload took it for the app's
  }

 private:
  void flush_outputs() { outputs_.flush(), request_lines_.flush(); }
  void write_own_line(std::string_view line) {  // log-encoder = json: as a JSON object
    request_lines_.json_other() ? log_file_.write(json_log_lines(line, 0)) : log_file_.write(line);
  }

  static Supervisor::Settings settings_for(const config::Config& config) {
    return {config.processes, std::chrono::seconds(config.worker_reload_mercy)};
  }

  // Stays up until the master exits, draining included: /ready says 503 while it stops.
  void start_stats() {
    if (!stats_listener_) return;
    auto collect = [this] {
      return collect_stats({*config_, listeners_, supervisor_, started_at_, &*counters_, &stats_history_});
    };
    stats_.emplace(io_, *stats_listener_, config_->stats_http, StatsRouting{collect, config_->stats_minified}, log_);
  }

  // The workers the previous master handed over keep serving (and logging through their
  // pipes) until this master's own are ready; a worker that died during the exec is reaped.
  void adopt_workers() {
    std::vector<Supervisor::Adopted> adopted;
    for (const auto& w : handover_->workers) {
      adopted.push_back(
          {w.slot, w.generation, w.pid, w.retiring, Clock::time_point(std::chrono::nanoseconds(w.started_ns))});
    }
    std::optional<std::string> import_error;
    if (app_ == nullptr && config_->preload) import_error = preload_error_;
    execute(supervisor_.start_adopting(adopted, handover_->generation, handover_->chain, import_error, Clock::now()));
    reap();
  }

  void wait_signal() {
    signals_.async_wait([this](const asio::error_code& error, int sig) {
      if (error) return;
      const auto now = Clock::now();
      if (sig == SIGHUP || sig == SIGUSR2) {
        notifier_.send_reloading();
        execute(reload(now, sig == SIGUSR2, fmt::format("got SIG{}", sigabbrev_np(sig))));
      } else if (sig == SIGUSR1) {
        reopen_log("got SIGUSR1");
      } else if (sig == SIGQUIT || sig == SIGINT) {
        // As in uWSGI, gunicorn and nginx: SIGINT (Ctrl-C) and SIGQUIT do not wait.
        notifier_.send("STOPPING=1\nSTATUS=fast stop");
        log_->info("got SIG{}: fast stop (in-flight requests are cut)", sigabbrev_np(sig));
        execute(supervisor_.on_stop(now, /*fast=*/true));
        stop_listening(listeners_, /*uwsgi_too=*/true);
      } else {
        notifier_.send("STOPPING=1\nSTATUS=stopping: finishing in-flight requests");
        log_->info("got SIG{}: stopping gracefully (workers finish their requests, at most {} s)", sigabbrev_np(sig),
                   config_->worker_reload_mercy);
        // Serving workers take what waits in the uwsgi sockets' queues and then shut them
        // (stop_worker's drain); with none, or at a second stop (a kill), it is done here.
        // The HTTP sockets are shut after the workers are told, so none takes the wake-up.
        drain_at_stop_ = !supervisor_.stopping() && supervisor_.serving();
        execute(supervisor_.on_stop(now));
        stop_listening(listeners_, /*uwsgi_too=*/!drain_at_stop_);
      }
      wait_signal();
    });
  }

  // SIGUSR1, log-reopen, touch-logreopen (after logrotate moved the file away): continue
  // in a new file at the same path. The descriptor number stays, so everything holding it follows.
  void reopen_log(std::string_view why) {
    if (!config_->logfile.empty()) {
      outputs_.flush();  // what the workers wrote before the signal goes to the old file
      const std::string error = log_file_.reopen();
      if (error.empty()) log_->info("{}: reopened the log file {}", why, config_->logfile);
      if (!error.empty()) log_->error("{}: {}", why, error);
    }
    if (const auto reopened = request_lines_.reopen(); !reopened.path.empty()) {
      if (reopened.error.empty()) log_->info("{}: reopened the request log {}", why, reopened.path);
      if (!reopened.error.empty()) log_->error("{}: {}", why, reopened.error);
    }
  }

  Actions reload(Clock::time_point now, bool chain, std::string_view why) {
    log_->info("{}: {}reloading the configuration and the app", why, chain ? "chain-" : "");
    try {
      auto loaded = config::load(config_->arguments, config_->environment);
      for (const auto& warning : loaded.warnings) log_->warn("{}", warning);
      if (config_->preload || loaded.config.preload) {
        // An app imported into this process cannot be unloaded: become a fresh master,
        // once its certificates are known to load (a bad one aborts the reload here).
        worker::TlsContexts::load(loaded.config);
        reexec(chain);
        return {};
      }
      std::vector<std::string> old_sockets, new_sockets;
      for (const auto& s : config_->sockets) old_sockets.push_back(s.address);
      for (const auto& s : loaded.config.sockets) new_sockets.push_back(s.address);
      if (old_sockets != new_sockets) {
        log_->warn("the socket list changed; sockets are kept across reloads, so restart ferry to apply that");
      }
      loaded.config.sockets = config_->sockets;
      // The certificates and keys are read again, so replaced files reach the new workers.
      auto tls = worker::TlsContexts::load(loaded.config);
      config_ = std::make_shared<config::Config>(std::move(loaded.config));
      tls_ = std::move(tls);
      log_file_.set_rotation({config_->log_maxsize, config_->log_backupname});
      if (config_->log_reopen) reopen_log(why);
    } catch (const config::ConfigError& e) {
      log_->error("reload aborted, the configuration has an error (the current workers keep serving): {}", e.what());
      return {};
    } catch (const worker::TlsError& e) {
      log_->error("reload aborted (the current workers keep serving): {}", e.what());
      return {};
    }
    return supervisor_.on_reload(config_->processes, now, chain);
  }

  // Re-executes ferry as the same process, handing over what must survive (handover.hpp).
  // Returns only if exec failed; the current workers then keep serving.
  void reexec(bool chain) {
    if (supervisor_.busy()) {
      log_->info("reload ignored: ferry is {}", supervisor_.stopping() ? "stopping" : "already reloading");
      return;
    }
    Handover h;
    h.pid = ::getpid();
    h.chain = chain;
    h.generation = supervisor_.generation();
    h.events_read = events_read_->native_handle();
    h.events_write = events_write_.get();
    h.counters_fd = counters_->fd();
    for (const auto& l : listeners_)
      h.sockets.push_back({l.fd.get(), l.device, l.inode, l.address, l.http, l.activated});
    for (const auto& w : supervisor_.workers()) {
      h.workers.push_back({w.pid, w.slot, w.generation, outputs_.pipe_fd(w.pid), counters_->slot_of(w.pid).value_or(0),
                           w.retiring,
                           std::chrono::duration_cast<std::chrono::nanoseconds>(w.started.time_since_epoch()).count(),
                           request_lines_.pipe_fd(w.pid)});
    }
    notifier_.restore_environment();
    const std::string path = executable_path();
    log_->info("re-executing {} (pid {}) to import the app afresh; the {} current worker{} keep serving meanwhile",
               path, h.pid, h.workers.size(), h.workers.size() == 1 ? "" : "s");
    outputs_.end_lines();  // an unfinished line in this process's memory would be lost
    request_lines_.end_lines();
    const int error = exec_with_handover(h, path, config_->arguments);
    log_->error("reload failed: cannot execute {}: {}; the current workers keep serving", path, std::strerror(error));
  }

  // touch-reload / touch-chain-reload / touch-logreopen: a changed mtime (checked each second).
  void watch_touch_files() {
    if (touched_.empty() && log_touched_.empty()) return;
    touch_timer_.expires_after(std::chrono::seconds(1));
    touch_timer_.async_wait([this](const asio::error_code& error) {
      if (error || done_) return;
      if (const auto touched = touched_.changed()) {
        notifier_.send_reloading();
        execute(reload(Clock::now(), touched->chain, fmt::format("{} was touched", touched->path)));
      }
      if (const auto touched = log_touched_.changed()) reopen_log(fmt::format("{} was touched", touched->path));
      watch_touch_files();
    });
  }

  void wait_child() {
    children_.async_wait([this](const asio::error_code& error, int) {
      if (error) return;
      reap();
      if (!done_) wait_child();
    });
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      auto exit = ExitStatus::from_wait_status(status);
      if (auto left = counters_->release(pid)) {
        exit.requests = left->served;
        exit.serving = std::move(left->serving);
        const bool harakiri = exit.signal == 0 && exit.code == kExitHarakiri;
        stats_history_.on_exit(supervisor_.slot_of(pid).value_or(0), pid, left->totals, harakiri);
      }
      // Everything the worker wrote before it died goes to the log before its obituary.
      request_lines_.remove(pid);
      const std::string before_ready = outputs_.remove(pid);
      const bool boot_failed = exit.signal == 0 && (exit.code == kExitAppLoad || exit.code == kExitWorkerBoot);
      if (boot_failed) exit.boot_error = quote_boot_failure(before_ready, exit.code);
      if (boot_failed && !config_->logfile.empty() && !load_error_shown_) {
        // The log is a file: repeat why on the terminal too.
        load_error_shown_ = true;
        write_fully(STDERR_FILENO, before_ready);
      }
      execute(supervisor_.on_exit(pid, exit, Clock::now()));
      if (done_) return;
    }
  }

  void spawn(int slot, int generation) {
    auto output = make_worker_pipe(config_->processes);
    auto requests = request_lines_.own_pipe() ? make_worker_pipe(config_->processes) : WorkerPipe{};
    if (!output || !requests) {
      execute(supervisor_.on_spawn_failed(slot, generation, std::strerror(errno), Clock::now()));
      return;
    }
    worker::WorkerSetup setup;
    setup.config = config_.get();
    for (const auto& l : listeners_) {
      (l.http ? setup.http_listen_fds : setup.listen_fds).push_back(l.fd.get());
      (l.http ? setup.http_listen_tls : setup.listen_tls).push_back(tls_.find(l.address));
      if (!l.http) setup.listen_activated.push_back(l.activated);
    }
    setup.events_fd = events_write_.get();
    setup.request_log_fd = requests->write_end ? requests->write_end.get() : -1;
    setup.slot = slot;
    setup.counters = counters_->shared();
    const auto counter_slot = counters_->next_free();
    if (!counter_slot) {
      execute(supervisor_.on_spawn_failed(slot, generation, "more live workers than ferry can count", Clock::now()));
      return;
    }
    setup.counter_slot = *counter_slot;
    if (!counters_->reserve_cores(*counter_slot, config_->threads)) {
      log_->warn("stats: no room left to count worker {}'s threads; its cores[] stay empty", slot);
    }
    std::vector<int> keep = setup.listen_fds;
    keep.insert(keep.end(), setup.http_listen_fds.begin(), setup.http_listen_fds.end());
    keep.push_back(setup.events_fd);
    if (setup.request_log_fd >= 0) keep.push_back(setup.request_log_fd);
    keep.insert(keep.end(), python_fds_.begin(), python_fds_.end());
    setup.preloaded = app_.get();
    setup.others_serving = supervisor_.serving();
    ForkHooks python_fork{[this] { app_->before_fork(); }, [this] { app_->after_fork_parent(); },
                          [this, slot] { app_->after_fork_child(wsgi::WorkerInfo::for_worker(*config_, slot)); }};

    const pid_t pid = fork_child(
        keep, output->write_end.get(), [&setup] { return worker::run_worker(setup); }, app_ ? &python_fork : nullptr);
    if (pid < 0) {
      execute(supervisor_.on_spawn_failed(slot, generation, std::strerror(errno), Clock::now()));
      return;
    }
    counters_->assign(pid, setup.counter_slot);
    stats_history_.on_spawn(slot);
    outputs_.add(pid, std::move(output->read_end));
    if (requests->read_end) request_lines_.add(pid, std::move(requests->read_end));
    log_->info("started worker {} (pid {}, generation {})", slot, pid, generation);
    execute(supervisor_.on_spawned(slot, generation, pid, Clock::now()));
  }

  void read_events() {
    events_read_->async_read_some(asio::buffer(event_buffer_), [this](const asio::error_code& error, std::size_t n) {
      if (error) return;
      const std::size_t count = n / sizeof(worker::Event);
      for (std::size_t i = 0; i < count; ++i) {
        worker::Event event;
        std::memcpy(&event, event_buffer_.data() + i * sizeof event, sizeof event);
        if (event.kind == worker::EventKind::retire) {
          execute(supervisor_.on_retire(event.pid, "asked to be recycled"));
          continue;
        }
        if (event.kind != worker::EventKind::ready) continue;
        outputs_.ready(event.pid);
        for (const auto& w : supervisor_.workers()) {
          if (w.pid == event.pid) log_->info("worker {} (pid {}) is ready", w.slot, event.pid);
        }
        execute(supervisor_.on_ready(event.pid));
      }
      if (!done_) read_events();
    });
  }

  void execute(const Actions& actions) {
    for (const auto& action : actions) {
      switch (action.kind) {
        case Action::Kind::spawn: spawn(action.slot, action.generation); break;
        case Action::Kind::stop: stop_worker(action.pid, drain_at_stop_); break;
        case Action::Kind::kill: ::kill(action.pid, SIGKILL); break;
        case Action::Kind::wake_at: wake_at(action.when); break;
        case Action::Kind::log_info: log_->info("{}", action.message); break;
        case Action::Kind::log_error: log_->error("{}", action.message); break;
        case Action::Kind::exit: finish(action.code); break;
        case Action::Kind::serving:
          notifier_.send(fmt::format("READY=1\nSTATUS=serving: {} worker{}, generation {}", config_->processes,
                                     config_->processes == 1 ? "" : "s", supervisor_.generation()));
          break;
      }
    }
  }

  void wake_at(Clock::time_point when) {
    if (timer_armed_ && timer_due_ <= when) return;
    timer_armed_ = true;
    timer_due_ = when;
    timer_.expires_at(when);
    timer_.async_wait([this](const asio::error_code& error) {
      if (error) return;
      timer_armed_ = false;
      execute(supervisor_.on_timer(Clock::now()));
    });
  }

  void finish(int code) {
    if (done_) return;
    done_ = true;
    exit_code_ = code;
    if (config_->vacuum) {
      vacuum_listeners(listeners_);
      if (stats_listener_) vacuum_listener(*stats_listener_);
      pidfile_.remove_if_ours();
    }
    log_->info("ferry stopped{}", code == 0 ? "" : fmt::format(" with exit code {}", code));
    // preload: the app's objects can only be freed with the GIL, and nothing needs them
    // freed as the master exits; its workers are gone.
    [[maybe_unused]] wsgi::App* leaked = app_.release();
    io_.stop();
  }

  std::shared_ptr<config::Config> config_;
  UniqueFd log_fd_;
  LogFile log_file_;  // every write to log_fd_ from here on: survives a full disk
  asio::io_context io_;
  LogCollector outputs_{io_, log_file_};  // before log_, whose every line flushes it
  // req-logger rotates at log-maxsize too, each rotated file named after itself
  RequestLogPipes request_lines_{io_, config_->request_log, log_file_, {config_->log_maxsize, ""}};
  std::shared_ptr<spdlog::logger> log_;
  std::vector<Listener> listeners_;
  worker::TlsContexts tls_;           // ssl-socket and https: inherited by each worker forked
  std::unique_ptr<wsgi::App> app_;    // preload: the app imported here; else nullptr
  std::vector<int> python_fds_;       // preload: descriptors the app holds, kept by workers
  std::string preload_error_;         // preload: why the import failed (its exception line)
  std::optional<Handover> handover_;  // set when this master was re-executed for a reload
  Pidfile pidfile_;
  SystemdNotifier notifier_;  // before signals_: constructed first
  asio::signal_set signals_;
  asio::signal_set children_;
  asio::steady_timer timer_;
  asio::steady_timer touch_timer_{io_};
  TouchFiles touched_{config_->touch_reload, config_->touch_chain_reload};
  TouchFiles log_touched_{config_->touch_logreopen, {}};
  bool timer_armed_ = false;
  Clock::time_point timer_due_{};
  Supervisor supervisor_;
  std::unique_ptr<asio::posix::stream_descriptor> events_read_;
  UniqueFd events_write_;
  std::array<char, 64 * sizeof(worker::Event)> event_buffer_{};
  std::optional<CounterSlots> counters_;  // set by run()
  std::optional<Listener> stats_listener_;
  StatsHistory stats_history_;
  std::optional<StatsServer> stats_;  // set by run() with stats_listener_
  std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
  bool load_error_shown_ = false;
  bool done_ = false;
  bool drain_at_stop_ = false;  // the workers' stop signals carry worker::kDrainListeners
  int exit_code_ = 0;
};

}  // namespace

int serve(MasterStart start) {
  Master master(std::move(start.loaded), std::move(start.log_fd), std::move(start.listeners),
                std::move(start.preloaded), std::move(start.handover));
  master.set_pidfile(std::move(start.pidfile));
  master.set_tls(std::move(start.tls));
  master.set_stats_listener(std::move(start.stats_listener));
  return master.run();
}

}  // namespace ferry::master
