// src/worker/request_clock.cpp: which request of which thread overran harakiri.

#include "worker/request_clock.hpp"

#include <doctest/doctest.h>

using namespace ferry::worker;
using namespace std::chrono_literals;

TEST_CASE("only a request past the limit is overdue, and the oldest one is named") {
  RequestClock clock(3);
  const RequestClock::Clock::time_point t0{};
  clock.begin(0, 10, "GET", "/fast", t0 + 4s);
  clock.begin(1, 11, "POST", "/slow", t0);
  clock.begin(2, 12, "GET", "/slower", t0 - 1s);
  CHECK_FALSE(clock.overdue(10s, t0 + 5s));

  const auto stuck = clock.overdue(5s, t0 + 6s);
  REQUIRE(stuck);
  CHECK(stuck->core == 2);
  CHECK(stuck->fd == 12);
  CHECK(stuck->uri == "/slower");
  CHECK(stuck->running == 7s);

  clock.end(2);
  const auto next = clock.overdue(5s, t0 + 6s);
  REQUIRE(next);
  CHECK(next->method == "POST");
  CHECK(clock.busy_except(1) == 1);  // the /fast one
  clock.end(0);
  CHECK(clock.busy_except(1) == 0);
}
