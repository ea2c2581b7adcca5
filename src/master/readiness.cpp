#include "master/readiness.hpp"

#include <fmt/format.h>

#include <set>

namespace ferry::master {

Readiness readiness(const StatsSnapshot& stats) {
  std::set<int> accepting;
  for (const auto& w : stats.workers) {
    if (w.accepting) accepting.insert(w.id);
  }
  const auto count = fmt::format("{} of {} workers accepting", accepting.size(), stats.configured_workers);
  switch (stats.phase) {
    case StatsSnapshot::Phase::starting: return {false, "starting: " + count};
    case StatsSnapshot::Phase::stopping: return {false, "stopping: finishing in-flight requests"};
    case StatsSnapshot::Phase::serving:
    case StatsSnapshot::Phase::reloading: break;
  }
  if (accepting.empty()) return {false, "no worker is accepting requests"};
  return {true, fmt::format("ready: {}{}", count, stats.phase == StatsSnapshot::Phase::reloading ? ", reloading" : "")};
}

}  // namespace ferry::master
