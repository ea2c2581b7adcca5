#include "worker/burst_counter.hpp"

#include <doctest/doctest.h>

using ferry::worker::BurstCounter;
using namespace std::chrono_literals;

TEST_CASE("BurstCounter: a short burst is one report, when it ends") {
  BurstCounter c(10s);
  const BurstCounter::Clock::time_point t0{};
  CHECK_FALSE(c.end(t0));  // nothing happened
  for (int i = 0; i < 50; ++i) CHECK_FALSE(c.note(t0 + i * 100ms));
  CHECK(c.in_burst());
  const auto r = c.end(t0 + 5s);
  REQUIRE(r);
  CHECK(r->count == 50);
  CHECK(r->lasted == 5s);
  CHECK(r->over);
  CHECK_FALSE(c.in_burst());
  CHECK_FALSE(c.end(t0 + 6s));  // already reported
}

TEST_CASE("BurstCounter: a long burst is reported every interval, then its rest at the end") {
  BurstCounter c(10s);
  const BurstCounter::Clock::time_point t0{};
  std::uint64_t reported = 0;
  int lines = 0;
  for (int i = 0; i <= 250; ++i) {  // 25 s of one event per 100 ms
    if (auto r = c.note(t0 + i * 100ms)) {
      CHECK_FALSE(r->over);
      reported += r->count;
      ++lines;
    }
  }
  CHECK(lines == 2);  // at 10 s and at 20 s
  const auto rest = c.end(t0 + 26s);
  REQUIRE(rest);
  CHECK(rest->lasted == 26s);
  CHECK(reported + rest->count == 251);
}

TEST_CASE("BurstCounter: nothing left after a periodic report means no end line") {
  BurstCounter c(1s);
  const BurstCounter::Clock::time_point t0{};
  CHECK_FALSE(c.note(t0));
  const auto r = c.note(t0 + 1s);
  REQUIRE(r);
  CHECK(r->count == 2);
  CHECK_FALSE(c.end(t0 + 2s));
  // A new burst starts afresh.
  CHECK_FALSE(c.note(t0 + 3s));
  const auto again = c.end(t0 + 3500ms);
  REQUIRE(again);
  CHECK(again->count == 1);
  CHECK(again->lasted == 500ms);
}
