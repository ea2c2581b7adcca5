// src/worker/request_clock.cpp: which request of which thread overran harakiri.

#include "worker/request_clock.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

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

TEST_CASE("plan_deadlines: wake at the earliest deadline, or name the longest-running request past it") {
  const RequestTime t0{};
  using Starts = std::vector<std::optional<RequestTime>>;

  const Starts none{std::nullopt, std::nullopt};
  auto plan = plan_deadlines(none, 5s, t0);
  CHECK_FALSE(plan.overdue);
  CHECK_FALSE(plan.wake_at);  // nothing to time: wait for a request

  const Starts running{t0 + 3s, std::nullopt, t0 + 1s};
  plan = plan_deadlines(running, 5s, t0 + 2s);
  CHECK_FALSE(plan.overdue);
  REQUIRE(plan.wake_at);
  CHECK(*plan.wake_at == t0 + 6s);  // the request of t0+1s, not the first slot's

  plan = plan_deadlines(running, 5s, t0 + 6s);  // exactly at the deadline
  REQUIRE(plan.overdue);
  CHECK(*plan.overdue == 2);
  CHECK_FALSE(plan.wake_at);

  plan = plan_deadlines(running, 5s, t0 + 9s);  // both past it: the older one
  REQUIRE(plan.overdue);
  CHECK(*plan.overdue == 2);
}

TEST_CASE("the watchdog wakes for a request that begins while it waits, and returns at its deadline") {
  RequestClock clock(2);
  std::optional<RequestClock::Overdue> stuck;
  std::thread watchdog([&] { stuck = clock.wait_for_overdue(100ms); });
  std::this_thread::sleep_for(20ms);  // the watchdog is waiting with no deadline
  const auto started = RequestClock::Clock::now();
  clock.begin(1, 7, "GET", "/stuck", started);
  watchdog.join();
  const auto waited = RequestClock::Clock::now() - started;
  REQUIRE(stuck);
  CHECK(stuck->core == 1);
  CHECK(stuck->uri == "/stuck");
  CHECK(stuck->running >= 100ms);
  CHECK(waited >= 100ms);
}

TEST_CASE("a request that began before the one the watchdog sleeps for wakes it to re-arm") {
  RequestClock clock(2);
  const auto now = RequestClock::Clock::now();
  clock.begin(0, 3, "GET", "/late", now);
  std::optional<RequestClock::Overdue> stuck;
  std::thread watchdog([&] { stuck = clock.wait_for_overdue(10s); });
  std::this_thread::sleep_for(20ms);  // asleep until /late's deadline, 10 s away
  // A uwsgi request's clock starts before its packet is read, so it may be older.
  clock.begin(1, 4, "POST", "/early", now - 20s);
  watchdog.join();
  REQUIRE(stuck);
  CHECK(stuck->uri == "/early");
  CHECK(RequestClock::Clock::now() - now < 5s);  // woken, not at /late's deadline
}

TEST_CASE("after harakiri, the watchdog waits for the other threads' requests to end, up to the mercy") {
  RequestClock clock(3);
  const auto now = RequestClock::Clock::now();
  clock.begin(0, 3, "GET", "/stuck", now);
  CHECK(clock.wait_until_idle_except(0, now));  // nobody else is busy
  clock.begin(2, 5, "GET", "/other", now);
  CHECK_FALSE(clock.wait_until_idle_except(0, RequestClock::Clock::now() + 20ms));
  std::thread other([&] {
    std::this_thread::sleep_for(20ms);
    clock.end(2);
  });
  CHECK(clock.wait_until_idle_except(0, RequestClock::Clock::now() + 10s));
  other.join();
}

TEST_CASE("stop() ends the watchdog's wait, so the worker can join it before the clock goes") {
  RequestClock clock(2);
  clock.begin(0, 3, "GET", "/fine", RequestClock::Clock::now());  // busy, but far from its deadline
  std::optional<RequestClock::Overdue> stuck{RequestClock::Overdue{}};
  std::thread watchdog([&] { stuck = clock.wait_for_overdue(1h); });
  clock.end(0);
  clock.stop();
  watchdog.join();  // would block for an hour (or for ever: idle) without stop()
  CHECK_FALSE(stuck);
  // Once stopped, a late waiter does not block either.
  CHECK_FALSE(clock.wait_for_overdue(1h));
}
