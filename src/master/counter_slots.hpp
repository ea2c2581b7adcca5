#pragma once

// The request counters the master shares with its workers (worker::SharedCounters in a
// memfd), and which worker owns which slot of them. A worker is handed a free slot at
// fork; when it dies the master reads what it served and what it was serving from that
// slot, clears it and frees it. The memfd, rather than anonymous memory, lets a
// re-executed master (preload reload) map the same counters again and keep counting the
// handed-over workers' requests.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "worker/worker.hpp"

namespace ferry::master {

class CounterSlots {
 public:
  // Fresh counters in a new memfd. Throws StartupError.
  static CounterSlots create();
  // The counters a previous master handed over (`fd` is taken), with the slots its
  // workers still hold, keyed by pid. Throws StartupError.
  static CounterSlots adopt(int fd, const std::map<pid_t, int>& taken);

  int fd() const { return fd_.get(); }
  worker::SharedCounters* shared() const { return counters_; }

  // A free slot, cleared for a new worker; nullopt when all kWorkerSlots are in use. The
  // slot stays free until assign() gives it to a pid.
  std::optional<int> next_free();
  void assign(pid_t pid, int slot);
  // The worker's slot, or nullopt for a pid that holds none.
  std::optional<int> slot_of(pid_t pid) const;

  // Gives the worker about to start in `slot` `threads` records of the core pool (freeing
  // what the slot held before), cleared; their place is in shared()->workers[slot]. False
  // when the pool has no room left: the worker then counts no cores (cores: [] in stats).
  bool reserve_cores(int slot, int threads);

  // What a worker that has exited left in its slot, which is cleared and freed.
  struct Left {
    std::uint64_t served = 0;
    std::string serving;  // the request it was in ("GET /crash"), or ""
    worker::WorkerTotals totals;
  };
  std::optional<Left> release(pid_t pid);

 private:
  CounterSlots(UniqueFd fd, worker::SharedCounters* counters, const std::map<pid_t, int>& taken);

  UniqueFd fd_;
  worker::SharedCounters* counters_ = nullptr;      // mapped from fd_ for the process's life
  std::map<pid_t, int> owners_;                     // live worker -> its slot
  std::vector<int> free_;                           // lowest slot last: handed out first
  std::map<int, std::pair<int, int>> core_ranges_;  // slot -> (first core, count)
};

}  // namespace ferry::master
