#pragma once

// The master's policy as a pure state machine: events in (a worker was spawned, became
// ready, exited; an operator asked to reload or stop; a deadline passed), actions out.
// No syscalls, no clocks: master.cpp feeds it events and carries out its actions, and the
// unit tests drive it without forking (nginx splits ngx_process.c and
// ngx_process_cycle.c the same way).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ferry::master {

using Clock = std::chrono::steady_clock;

// How a process ended, as waitpid reported it.
struct ExitStatus {
  int code = 0;    // valid when signal == 0
  int signal = 0;  // the signal that killed it, or 0
  bool core_dumped = false;
  std::uint64_t requests = 0;  // served before it ended, from the shared counters
  std::string serving{};       // the request it was in when it ended ("GET /crash"), or ""
  // Exited with kExitAppLoad or kExitWorkerBoot before it was ready: the line that says why,
  // from what it wrote (quote_boot_failure in boot_error.hpp), or "".
  std::string boot_error{};

  static ExitStatus from_wait_status(int status);
  std::string describe() const;  // "exit code 3", "killed by signal 9 (SIGKILL) while serving GET /"
};

struct Action {
  enum class Kind {
    spawn,     // start worker `slot` of `generation`
    stop,      // ask `pid` to finish in-flight requests and exit (SIGTERM)
    kill,      // SIGKILL `pid`: its grace period is over
    wake_at,   // call on_timer() at `when`
    exit,      // everything is down: exit the master with `code`
    serving,   // every worker of the current generation is ready (after start or a reload)
    log_info,  // a line for the log
    log_error,
  };
  Kind kind = Kind::log_info;
  int slot = 0;
  int generation = 0;
  pid_t pid = 0;
  Clock::time_point when{};
  int code = 0;
  std::string message;
};

using Actions = std::vector<Action>;

class Supervisor {
 public:
  struct Settings {
    int processes = 1;
    std::chrono::seconds stop_grace{30};
  };

  explicit Supervisor(Settings settings) : settings_(settings) {}

  // A worker another master started, handed over across a re-exec (see handover.hpp).
  struct Adopted {
    int slot = 0;
    int generation = 0;
    pid_t pid = 0;
    bool retiring = false;
    Clock::time_point started{};
    bool ready = false;  // workers(): it said it is ready (not read by start_adopting)
  };

  Actions start(Clock::time_point now);
  // Starts with workers that are already serving (generation `generation`): a new
  // generation replaces them as a reload would (one at a time with `chain`). With an
  // `import_error` (the app failed to import in this master: its exception line, or "")
  // they keep serving as they are.
  Actions start_adopting(const std::vector<Adopted>& workers, int generation, bool chain,
                         const std::optional<std::string>& import_error, Clock::time_point now);
  Actions on_spawned(int slot, int generation, pid_t pid, Clock::time_point now);
  Actions on_spawn_failed(int slot, int generation, const std::string& error, Clock::time_point now);
  Actions on_ready(pid_t pid);
  // A worker asks to be recycled: its replacement starts now, and it is stopped once the
  // replacement is ready, so its slot never goes unserved.
  Actions on_retire(pid_t pid, const std::string& why);
  Actions on_exit(pid_t pid, ExitStatus status, Clock::time_point now);
  // A reload starts the new generation at once and retires the old one when all of it is
  // ready; a chain reload replaces the workers one at a time (same number of workers).
  Actions on_reload(int processes, Clock::time_point now, bool chain = false);
  // Graceful: workers finish their requests (up to stop_grace). Fast: they are killed.
  Actions on_stop(Clock::time_point now, bool fast = false);
  Actions on_timer(Clock::time_point now);

  bool stopping() const { return phase_ == Phase::stopping; }
  bool busy() const { return phase_ != Phase::running; }  // reloading or stopping
  bool reloading() const { return phase_ == Phase::reloading; }
  bool started() const { return started_; }  // the first generation has been fully ready once
  std::vector<Adopted> workers() const;
  std::optional<int> slot_of(pid_t pid) const;  // the live worker's id
  // Some worker is ready and not being stopped: requests are being answered.
  bool serving() const;
  std::size_t live_workers() const { return workers_.size(); }
  int generation() const { return generation_; }

 private:
  enum class Phase { running, reloading, stopping };

  struct Worker {
    int slot;
    int generation;
    pid_t pid;
    Clock::time_point started;
    bool ready = false;
    bool retiring = false;   // asked to stop; not replaced when it exits
    bool replacing = false;  // recycling: its successor is starting
  };

  struct PendingRespawn {
    int slot;
    int generation;
    Clock::time_point at;
  };

  Worker* find(pid_t pid);
  Actions finish_reload_if_ready();
  Actions chain_step(const Worker& ready_worker);
  // A spawn now, or after a backoff when workers keep dying right after they start.
  Actions respawn_later(int slot, int generation, Clock::time_point now, bool quick_death);
  Actions exit_if_idle();

  Settings settings_;
  Phase phase_ = Phase::running;
  int generation_ = 1;         // the generation serving now
  int reload_generation_ = 0;  // the one being started by a reload
  bool chain_ = false;         // the reload replaces one worker at a time
  int chain_slot_ = 0;         // the slot being replaced
  int newest_generation_ = 1;  // the highest number handed out
  bool ever_ready_ = false;
  bool started_ = false;  // the first generation has been fully ready once
  int quick_deaths_ = 0;  // consecutive workers that died soon after starting
  int exit_code_ = 0;
  std::vector<Worker> workers_;
  std::vector<PendingRespawn> pending_;
  std::optional<Clock::time_point> kill_deadline_;
};

}  // namespace ferry::master
