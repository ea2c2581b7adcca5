// src/master/readiness.cpp: /ready's decision.

#include "master/readiness.hpp"

#include <doctest/doctest.h>

using namespace ferry::master;
using Phase = StatsSnapshot::Phase;

namespace {

StatsSnapshot with(Phase phase, std::initializer_list<std::pair<int, bool>> workers, int configured = 2) {
  StatsSnapshot s;
  s.phase = phase;
  s.configured_workers = configured;
  for (const auto& [id, accepting] : workers) {
    WorkerSnapshot w;
    w.id = id;
    w.accepting = accepting;
    s.workers.push_back(w);
  }
  return s;
}

}  // namespace

TEST_CASE("not ready while starting, even with some workers accepting") {
  const auto r = readiness(with(Phase::starting, {{1, true}, {2, false}}));
  CHECK_FALSE(r.ready);
  CHECK(r.reason == "starting: 1 of 2 workers accepting");
}

TEST_CASE("ready once serving, and while reloading (the old generation accepts)") {
  CHECK(readiness(with(Phase::serving, {{1, true}, {2, true}})).ready);
  const auto reloading = readiness(with(Phase::reloading, {{1, true}, {1, false}, {2, true}}));
  CHECK(reloading.ready);
  CHECK(reloading.reason == "ready: 2 of 2 workers accepting, reloading");
  CHECK(readiness(with(Phase::serving, {{1, true}, {2, false}})).ready);  // one respawning
}

TEST_CASE("not ready when stopping, or when no worker accepts") {
  CHECK_FALSE(readiness(with(Phase::stopping, {{1, true}, {2, true}})).ready);
  const auto none = readiness(with(Phase::serving, {{1, false}, {2, false}}));
  CHECK_FALSE(none.ready);
  CHECK(none.reason == "no worker is accepting requests");
  CHECK_FALSE(readiness(with(Phase::serving, {})).ready);
}
