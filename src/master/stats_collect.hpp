#pragma once

// One reading of what the stats server reports, gathered from what the master holds: the
// configuration, the listening sockets, the supervisor's workers and the shared counters.
// Runs on the master's loop when a stats client connects; it reads memory the workers
// write without waiting for them, and never touches Python.

#include <chrono>
#include <vector>

#include "config/config.hpp"
#include "master/counter_slots.hpp"
#include "master/listeners.hpp"
#include "master/stats_history.hpp"
#include "master/stats_snapshot.hpp"
#include "master/supervisor.hpp"

namespace ferry::master {

struct StatsInputs {
  const config::Config& config;
  const std::vector<Listener>& listeners;
  const Supervisor& supervisor;
  std::chrono::system_clock::time_point started_at;  // the master's start
  const CounterSlots* counters = nullptr;            // nullptr: no counts (unit tests)
  StatsHistory* history = nullptr;
};

StatsSnapshot collect_stats(const StatsInputs& in);

// Where the master stands, from the supervisor's state: starting until the first
// generation was all ready once, then serving, reloading or stopping.
StatsSnapshot::Phase stats_phase(bool started, bool reloading, bool stopping);

}  // namespace ferry::master
