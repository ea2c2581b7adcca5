// src/master/stats_collect.cpp: the snapshot from what the master holds.

#include "master/stats_collect.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

using namespace ferry::master;
using Phase = StatsSnapshot::Phase;

TEST_CASE("the phase: starting until first ready, then serving or reloading; stopping wins") {
  CHECK(stats_phase(false, false, false) == Phase::starting);
  CHECK(stats_phase(true, false, false) == Phase::serving);
  CHECK(stats_phase(true, true, false) == Phase::reloading);
  CHECK(stats_phase(false, false, true) == Phase::stopping);
  CHECK(stats_phase(true, true, true) == Phase::stopping);
}

TEST_CASE("a snapshot of a fresh supervisor: the master's identity, the sockets, one core per thread") {
  ferry::config::Config config;
  config.processes = 2;
  config.threads = 3;
  config.wsgi_file = "app.py";
  std::vector<Listener> listeners(1);
  listeners[0].address = "127.0.0.1:9000";
  listeners[0].http = true;
  Supervisor supervisor({2, std::chrono::seconds(1)});
  const auto now = Clock::now();
  supervisor.start(now);
  supervisor.on_spawned(1, 1, 1001, now);
  supervisor.on_spawned(2, 1, 1002, now);
  supervisor.on_ready(1002);
  const auto s = collect_stats({config, listeners, supervisor, std::chrono::system_clock::now()});
  CHECK(s.pid == ::getpid());
  CHECK(s.phase == Phase::starting);
  CHECK(s.configured_workers == 2);
  REQUIRE(s.sockets.size() == 1);
  CHECK(s.sockets[0].proto == "http");
  REQUIRE(s.workers.size() == 2);
  CHECK(s.workers[0].id == 1);
  CHECK(s.workers[0].pid == 1001);
  CHECK_FALSE(s.workers[0].accepting);
  CHECK(s.workers[1].accepting);
  CHECK(s.workers[1].cores.size() == 3);
  CHECK(s.workers[1].cores[2].id == 2);
  REQUIRE(s.workers[1].apps.size() == 1);
}
