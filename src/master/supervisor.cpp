#include "master/supervisor.hpp"

#include "common/exit_codes.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace ferry::master {
namespace {

// A worker that dies sooner than this after starting counts towards crash-loop backoff.
constexpr auto kQuickDeath = std::chrono::seconds(1);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(10);

std::string seconds_since(Clock::time_point start, Clock::time_point now) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(now - start).count());
}

// Why a worker that never got ready exited, for the master's line about it.
std::string boot_failure(const ExitStatus& status) {
  const char* what = status.code == kExitAppLoad ? "could not load the app" : "failed to start";
  return status.boot_error.empty() ? what : fmt::format("{}: {}", what, status.boot_error);
}

Action make(Action::Kind kind) {
  Action a;
  a.kind = kind;
  return a;
}

Action log(Action::Kind kind, std::string message) {
  Action a = make(kind);
  a.message = std::move(message);
  return a;
}

}  // namespace

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus result;
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.core_dumped = WCOREDUMP(status);
  } else if (WIFEXITED(status)) {
    result.code = WEXITSTATUS(status);
  }
  return result;
}

std::string ExitStatus::describe() const {
  const std::string during = serving.empty() ? "" : fmt::format(" while serving {}", serving);
  if (signal == 0) {
    const std::string why = code == kExitHarakiri ? " (harakiri)" : boot_error.empty() ? "" : " (" + boot_error + ")";
    return fmt::format("exit code {}{}{}", code, why, during);
  }
  const char* abbrev = sigabbrev_np(signal);
  return fmt::format("killed by signal {} (SIG{}{}){}{}", signal, abbrev ? abbrev : "?",
                     signal == SIGSEGV ? ", a crash in native code" : "", core_dumped ? ", core dumped" : "", during);
}

Supervisor::Worker* Supervisor::find(pid_t pid) {
  auto it = std::find_if(workers_.begin(), workers_.end(), [pid](const Worker& w) { return w.pid == pid; });
  return it == workers_.end() ? nullptr : &*it;
}

Actions Supervisor::start(Clock::time_point) {
  Actions actions;
  for (int slot = 1; slot <= settings_.processes; ++slot) {
    Action a = make(Action::Kind::spawn);
    a.slot = slot;
    a.generation = generation_;
    actions.push_back(a);
  }
  return actions;
}

Actions Supervisor::start_adopting(const std::vector<Adopted>& adopted, int generation, bool chain,
                                   const std::optional<std::string>& import_error, Clock::time_point now) {
  int serving = 0;
  for (const auto& a : adopted) {
    workers_.push_back(Worker{a.slot, a.generation, a.pid, a.started, /*ready=*/true, a.retiring});
    if (!a.retiring) ++serving;
  }
  generation_ = newest_generation_ = std::max(generation, 1);
  ever_ready_ = started_ = true;
  if (import_error) {
    return {log(Action::Kind::log_error,
                fmt::format("reload failed: the app did not import{}{}; the {} worker{} of generation {} keep "
                            "serving the old code. Fix the error and reload again",
                            import_error->empty() ? "" : ": ", *import_error, serving, serving == 1 ? "" : "s",
                            generation_)),
            make(Action::Kind::serving)};
  }
  // One-for-one replacement needs the handed-over workers to fill exactly the slots.
  return on_reload(settings_.processes, now, chain && serving == settings_.processes);
}

std::vector<Supervisor::Adopted> Supervisor::workers() const {
  std::vector<Adopted> out;
  for (const auto& w : workers_) out.push_back({w.slot, w.generation, w.pid, w.retiring, w.started, w.ready});
  return out;
}

std::optional<int> Supervisor::slot_of(pid_t pid) const {
  for (const auto& w : workers_) {
    if (w.pid == pid) return w.slot;
  }
  return std::nullopt;
}

bool Supervisor::serving() const {
  return std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.ready && !w.retiring; });
}

Actions Supervisor::on_spawned(int slot, int generation, pid_t pid, Clock::time_point now) {
  workers_.push_back(Worker{slot, generation, pid, now});
  if (phase_ == Phase::stopping) {
    // A stop arrived between deciding to spawn and the fork: stop it at once.
    workers_.back().retiring = true;
    Action a = make(Action::Kind::stop);
    a.pid = pid;
    return {a};
  }
  return {};
}

Actions Supervisor::on_spawn_failed(int slot, int generation, const std::string& error, Clock::time_point now) {
  Actions actions{log(Action::Kind::log_error, fmt::format("could not start worker {}: {}", slot, error))};
  auto more = respawn_later(slot, generation, now, true);
  actions.insert(actions.end(), more.begin(), more.end());
  return actions;
}

Actions Supervisor::on_ready(pid_t pid) {
  Worker* worker = find(pid);
  if (worker == nullptr) return {};
  worker->ready = true;
  ever_ready_ = true;
  Actions actions;
  for (auto& w : workers_) {
    if (w.replacing && !w.retiring && w.slot == worker->slot && w.generation == worker->generation && w.pid != pid) {
      w.retiring = true;
      Action a = make(Action::Kind::stop);
      a.pid = w.pid;
      actions.push_back(a);
    }
  }
  if (!actions.empty()) return actions;
  if (phase_ == Phase::reloading) return chain_ ? chain_step(*worker) : finish_reload_if_ready();
  if (!started_ && phase_ == Phase::running) {
    const auto ready = std::count_if(workers_.begin(), workers_.end(),
                                     [this](const Worker& w) { return w.generation == generation_ && w.ready; });
    if (ready >= settings_.processes) {
      started_ = true;
      return {make(Action::Kind::serving)};
    }
  }
  return {};
}

Actions Supervisor::chain_step(const Worker& ready_worker) {
  if (ready_worker.generation != reload_generation_ || ready_worker.slot != chain_slot_) return {};
  Actions actions;
  // Its replacement serves: retire the old worker of this slot, then start the next one.
  for (auto& w : workers_) {
    if (w.slot == chain_slot_ && w.generation != reload_generation_ && !w.retiring) {
      w.retiring = true;
      Action a = make(Action::Kind::stop);
      a.pid = w.pid;
      actions.push_back(a);
    }
  }
  if (chain_slot_ < settings_.processes) {
    Action a = make(Action::Kind::spawn);
    a.slot = ++chain_slot_;
    a.generation = reload_generation_;
    actions.push_back(a);
    return actions;
  }
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [this](const PendingRespawn& p) { return p.generation != reload_generation_; }),
                 pending_.end());
  generation_ = reload_generation_;
  phase_ = Phase::running;
  chain_ = false;
  actions.push_back(make(Action::Kind::serving));
  actions.push_back(log(Action::Kind::log_info, fmt::format("chain reload done: all {} workers replaced one at a time "
                                                            "(generation {})",
                                                            settings_.processes, generation_)));
  return actions;
}

Actions Supervisor::on_retire(pid_t pid, const std::string& why) {
  Worker* worker = find(pid);
  // During a reload or a stop the worker is about to be replaced anyway.
  if (worker == nullptr || worker->retiring || worker->replacing || phase_ != Phase::running) return {};
  worker->replacing = true;
  Action spawn = make(Action::Kind::spawn);
  spawn.slot = worker->slot;
  spawn.generation = worker->generation;
  return {log(Action::Kind::log_info, fmt::format("worker {} (pid {}) {}; starting its replacement, it keeps "
                                                  "serving until that one is ready",
                                                  worker->slot, pid, why)),
          spawn};
}

Actions Supervisor::finish_reload_if_ready() {
  const auto ready = std::count_if(workers_.begin(), workers_.end(),
                                   [this](const Worker& w) { return w.generation == reload_generation_ && w.ready; });
  if (ready < settings_.processes) return {};
  Actions actions;
  for (auto& w : workers_) {
    if (w.generation != reload_generation_ && !w.retiring) {
      w.retiring = true;
      Action a = make(Action::Kind::stop);
      a.pid = w.pid;
      actions.push_back(a);
    }
  }
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [this](const PendingRespawn& p) { return p.generation != reload_generation_; }),
                 pending_.end());
  generation_ = reload_generation_;
  phase_ = Phase::running;
  started_ = true;
  actions.push_back(make(Action::Kind::serving));
  actions.push_back(
      log(Action::Kind::log_info, fmt::format("reload done: {} new worker{} serving (generation {}); the old ones "
                                              "finish their requests and exit",
                                              settings_.processes, settings_.processes == 1 ? "" : "s", generation_)));
  return actions;
}

Actions Supervisor::on_exit(pid_t pid, ExitStatus status, Clock::time_point now) {
  Worker* found = find(pid);
  if (found == nullptr) return {};
  const Worker worker = *found;
  workers_.erase(workers_.begin() + (found - workers_.data()));
  const std::string who = fmt::format("worker {} (pid {})", worker.slot, worker.pid);
  const std::string lived = fmt::format("{} request{} and {}", status.requests, status.requests == 1 ? "" : "s",
                                        seconds_since(worker.started, now));

  if (phase_ == Phase::stopping || worker.retiring) {
    Actions actions{log(Action::Kind::log_info, fmt::format("{} stopped: {} after {}", who, status.describe(), lived))};
    if (auto more = exit_if_idle(); !more.empty()) actions.insert(actions.end(), more.begin(), more.end());
    return actions;
  }

  if (worker.replacing) {
    // Its replacement is already starting: no second one.
    return {log(Action::Kind::log_error, fmt::format("{} exited while its replacement was starting: {} after {}", who,
                                                     status.describe(), lived))};
  }
  // The app does not import, or the worker cannot get ready around it (a bad chdir, a
  // limit-as too low): a new worker would fail the same way.
  const bool load_failed =
      status.signal == 0 && !worker.ready && (status.code == kExitAppLoad || status.code == kExitWorkerBoot);
  if (load_failed && !ever_ready_) {
    // Nothing ever served: looping on it would hide the error. Stop everything.
    Actions actions{log(Action::Kind::log_error, fmt::format("{} {}; stopping ferry", who, boot_failure(status)))};
    exit_code_ = status.code;
    auto more = on_stop(now);
    actions.insert(actions.end(), more.begin(), more.end());
    return actions;
  }
  if (load_failed && phase_ == Phase::reloading && worker.generation == reload_generation_ && chain_) {
    // The workers already replaced keep serving (their app loaded); the rest stay old.
    phase_ = Phase::running;
    chain_ = false;
    return {log(Action::Kind::log_error,
                fmt::format("chain reload stopped: {} {}; the workers not yet replaced keep serving the old code", who,
                            boot_failure(status))),
            make(Action::Kind::serving)};
  }
  if (load_failed && phase_ == Phase::reloading && worker.generation == reload_generation_) {
    Actions actions{log(Action::Kind::log_error,
                        fmt::format("reload failed: {} {}; the old workers keep serving", who, boot_failure(status)))};
    for (auto& w : workers_) {
      if (w.generation == reload_generation_ && !w.retiring) {
        w.retiring = true;
        Action a = make(Action::Kind::stop);
        a.pid = w.pid;
        actions.push_back(a);
      }
    }
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [this](const PendingRespawn& p) { return p.generation == reload_generation_; }),
                   pending_.end());
    phase_ = Phase::running;
    actions.push_back(make(Action::Kind::serving));  // the old generation still is
    return actions;
  }

  const bool quick = now - worker.started < kQuickDeath;
  Actions actions{log(status.signal == 0 && status.code == 0 ? Action::Kind::log_info : Action::Kind::log_error,
                      fmt::format("{} exited: {} after {}; starting a new one", who, status.describe(), lived))};
  auto more = respawn_later(worker.slot, worker.generation, now, quick);
  actions.insert(actions.end(), more.begin(), more.end());
  return actions;
}

Actions Supervisor::respawn_later(int slot, int generation, Clock::time_point now, bool quick_death) {
  quick_deaths_ = quick_death ? quick_deaths_ + 1 : 0;
  if (quick_deaths_ <= 1) {
    Action a = make(Action::Kind::spawn);
    a.slot = slot;
    a.generation = generation;
    return {a};
  }
  auto delay = std::min<Clock::duration>(kFirstBackoff * (1 << std::min(quick_deaths_ - 2, 10)), kMaxBackoff);
  pending_.push_back(PendingRespawn{slot, generation, now + delay});
  Action wake = make(Action::Kind::wake_at);
  wake.when = now + delay;
  return {log(Action::Kind::log_error,
              fmt::format("{} workers in a row died within a second of starting; waiting {} ms before "
                          "starting worker {} again",
                          quick_deaths_, std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(), slot)),
          wake};
}

Actions Supervisor::on_reload(int processes, Clock::time_point, bool chain) {
  if (phase_ == Phase::stopping) return {log(Action::Kind::log_info, "reload ignored: ferry is stopping")};
  if (phase_ == Phase::reloading) {
    return {log(Action::Kind::log_info, "reload ignored: a reload is already in progress")};
  }
  // One-for-one replacement needs the same number of workers; otherwise reload fully.
  if (chain && processes != settings_.processes) chain = false;
  phase_ = Phase::reloading;
  settings_.processes = processes;
  // Never reuse a number: workers of a failed reload may still be finishing requests.
  reload_generation_ = ++newest_generation_;
  chain_ = chain;
  if (chain) {
    chain_slot_ = 1;
    Action a = make(Action::Kind::spawn);
    a.slot = 1;
    a.generation = reload_generation_;
    return {log(Action::Kind::log_info, fmt::format("chain reload: replacing the {} workers one at a time "
                                                    "(generation {})",
                                                    processes, reload_generation_)),
            a};
  }
  Actions actions{
      log(Action::Kind::log_info, fmt::format("reloading: starting {} new worker{} (generation {}); the current ones "
                                              "keep serving until they are ready",
                                              processes, processes == 1 ? "" : "s", reload_generation_))};
  for (int slot = 1; slot <= processes; ++slot) {
    Action a = make(Action::Kind::spawn);
    a.slot = slot;
    a.generation = reload_generation_;
    actions.push_back(a);
  }
  return actions;
}

Actions Supervisor::on_stop(Clock::time_point now, bool fast) {
  Actions actions;
  if (phase_ == Phase::stopping || fast) {
    phase_ = Phase::stopping;
    pending_.clear();
    actions.push_back(log(Action::Kind::log_info, fast ? "fast stop: killing the workers now"
                                                       : "second stop request: killing the workers now"));
    for (auto& w : workers_) {
      w.retiring = true;
      Action a = make(Action::Kind::kill);
      a.pid = w.pid;
      actions.push_back(a);
    }
    auto more = exit_if_idle();
    actions.insert(actions.end(), more.begin(), more.end());
    return actions;
  }
  phase_ = Phase::stopping;
  pending_.clear();
  kill_deadline_ = now + settings_.stop_grace;
  for (auto& w : workers_) {
    w.retiring = true;
    Action a = make(Action::Kind::stop);
    a.pid = w.pid;
    actions.push_back(a);
  }
  if (!workers_.empty()) {
    Action wake = make(Action::Kind::wake_at);
    wake.when = *kill_deadline_;
    actions.push_back(wake);
  }
  auto more = exit_if_idle();
  actions.insert(actions.end(), more.begin(), more.end());
  return actions;
}

Actions Supervisor::on_timer(Clock::time_point now) {
  Actions actions;
  if (phase_ == Phase::stopping && kill_deadline_ && now >= *kill_deadline_) {
    for (const auto& w : workers_) {
      actions.push_back(log(Action::Kind::log_error,
                            fmt::format("worker {} (pid {}) did not finish within worker-reload-mercy ({} s); "
                                        "killing it",
                                        w.slot, w.pid, settings_.stop_grace.count())));
      Action a = make(Action::Kind::kill);
      a.pid = w.pid;
      actions.push_back(a);
    }
    kill_deadline_.reset();
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->at <= now) {
      Action a = make(Action::Kind::spawn);
      a.slot = it->slot;
      a.generation = it->generation;
      actions.push_back(a);
      it = pending_.erase(it);
    } else {
      Action wake = make(Action::Kind::wake_at);
      wake.when = it->at;
      actions.push_back(wake);
      ++it;
    }
  }
  return actions;
}

Actions Supervisor::exit_if_idle() {
  if (phase_ != Phase::stopping || !workers_.empty()) return {};
  Action a = make(Action::Kind::exit);
  a.code = exit_code_;
  return {a};
}

}  // namespace ferry::master
