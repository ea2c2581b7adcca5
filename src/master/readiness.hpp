#pragma once

// /ready's decision, as a pure function of a snapshot: ready (200) once the first
// generation of workers has all been ready and while at least one worker accepts; not
// ready (503) while ferry starts, once it is stopping (after SIGTERM, so a load balancer
// drains it while in-flight requests finish), or when no worker accepts.

#include <string>

#include "master/stats_snapshot.hpp"

namespace ferry::master {

struct Readiness {
  bool ready = false;
  std::string reason;  // one line, the response's body
};

Readiness readiness(const StatsSnapshot& stats);

}  // namespace ferry::master
