// src/master/stats_history.cpp: counts per worker id that survive its processes.

#include "master/stats_history.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace ferry::master;
using ferry::worker::WorkerTotals;

namespace {

WorkerTotals totals(std::uint64_t requests, std::uint64_t micros_each) {
  WorkerTotals t;
  t.requests = requests;
  t.running_us = requests * micros_each;
  t.tx_bytes = requests * 100;
  t.responses[1] = requests;
  t.durations[ferry::worker::duration_bucket(micros_each)] = requests;
  return t;
}

}  // namespace

TEST_CASE("an id's exited processes fold into its lifetime, so its counters never go down") {
  StatsHistory h;
  h.on_spawn(1);
  const auto first = totals(5, 1000);
  CHECK(h.lifetime(1, &first).requests == 5);
  h.on_exit(1, 100, first, /*harakiri=*/true);
  h.on_spawn(1);
  const auto second = totals(2, 2'000'000);
  const auto life = h.lifetime(1, &second);
  CHECK(life.requests == 7);
  CHECK(life.tx_bytes == 700);
  CHECK(life.harakiri == 1);
  CHECK(life.responses_by_class[1] == 7);
  CHECK(life.duration_seconds_sum == doctest::Approx(4.005));
  REQUIRE(life.bucket_counts.size() == ferry::worker::kDurationBounds.size() + 1);
  CHECK(life.bucket_counts.front() == 5);  // cumulative: <= 5 ms
  CHECK(life.bucket_counts.back() == 7);   // +Inf == every request
  CHECK(h.lifetime(1, nullptr).requests == 5);
  CHECK(h.spawns(1) == 2);
  CHECK(h.respawns_total() == 1);
  CHECK(h.lifetime(2, nullptr).requests == 0);
}

TEST_CASE("delta_requests: since the previous reading of that process") {
  StatsHistory h;
  CHECK(h.delta_requests(10, 4) == 4);
  CHECK(h.delta_requests(10, 4) == 0);
  CHECK(h.delta_requests(10, 9) == 5);
  h.on_exit(1, 10, {}, false);
  CHECK(h.delta_requests(10, 3) == 3);  // a new process with a reused pid
}

TEST_CASE("attached to shared records, a new history (a re-executed master) goes on from the old one's") {
  std::vector<ferry::worker::IdRecord> shared(ferry::worker::SharedCounters::kWorkerIds + 1);
  StatsHistory before;
  before.attach(shared.data());
  before.on_spawn(3);
  before.on_exit(3, 50, totals(4, 100), false);
  StatsHistory after;
  after.attach(shared.data());
  after.on_spawn(3);
  CHECK(after.spawns(3) == 2);
  CHECK(after.lifetime(3, nullptr).requests == 4);
  after.on_spawn(5000);  // past the ids there are: ignored, not written out of bounds
  CHECK(after.spawns(5000) == 0);
}
