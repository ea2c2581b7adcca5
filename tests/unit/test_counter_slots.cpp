// src/master/counter_slots.cpp: the request counters in a memfd the workers write, and
// the slot each worker owns; adopt() maps the same memory again, as a re-executed master.

#include "master/counter_slots.hpp"

#include "worker/worker.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <set>

using ferry::master::CounterSlots;
using ferry::worker::SharedCounters;

namespace {

void set_in_flight(SharedCounters& counters, int slot, const char* text) {
  auto& in_flight = counters.in_flight[slot];
  std::memcpy(in_flight.text, text, std::strlen(text));
  in_flight.length.store(static_cast<std::uint32_t>(std::strlen(text)));
}

}  // namespace

TEST_CASE("slots are handed out lowest first, and a released slot is free again") {
  CounterSlots slots = CounterSlots::create();
  REQUIRE(slots.fd() >= 0);
  REQUIRE(slots.shared() != nullptr);
  const auto first = slots.next_free();
  REQUIRE(first);
  CHECK(*first == 0);
  CHECK(slots.next_free() == first);  // not taken until assigned
  slots.assign(100, *first);
  const auto second = slots.next_free();
  REQUIRE(second);
  CHECK(*second == 1);
  slots.assign(101, *second);
  CHECK(slots.slot_of(100) == 0);
  CHECK(slots.slot_of(101) == 1);
  CHECK_FALSE(slots.slot_of(102));

  REQUIRE(slots.release(100));
  CHECK_FALSE(slots.slot_of(100));
  CHECK_FALSE(slots.release(100));  // only once
  CHECK(slots.next_free() == 0);
}

TEST_CASE("release() reports what the worker served and was serving, and clears the slot") {
  CounterSlots slots = CounterSlots::create();
  const int slot = *slots.next_free();
  slots.assign(200, slot);
  slots.shared()->served[slot].store(41);
  set_in_flight(*slots.shared(), slot, "GET /crash");
  const auto left = slots.release(200);
  REQUIRE(left);
  CHECK(left->served == 41);
  CHECK(left->serving == "GET /crash");
  CHECK(slots.shared()->in_flight[slot].length.load() == 0);

  // The next worker in that slot starts from zero.
  slots.shared()->served[slot].store(7);
  const auto again = slots.next_free();
  REQUIRE(again == slot);
  CHECK(slots.shared()->served[slot].load() == 0);
}

TEST_CASE("a worker between requests left nothing in flight") {
  CounterSlots slots = CounterSlots::create();
  slots.assign(300, *slots.next_free());
  const auto left = slots.release(300);
  REQUIRE(left);
  CHECK(left->served == 0);
  CHECK(left->serving.empty());
}

TEST_CASE("all slots in use: no free one") {
  CounterSlots slots = CounterSlots::create();
  for (int i = 0; i < SharedCounters::kWorkerSlots; ++i) slots.assign(1000 + i, *slots.next_free());
  CHECK_FALSE(slots.next_free());
  slots.release(1000 + 17);
  CHECK(slots.next_free() == 17);
}

TEST_CASE("adopt() maps the same counters and keeps the handed-over workers' slots") {
  CounterSlots slots = CounterSlots::create();
  slots.assign(400, *slots.next_free());
  slots.assign(401, *slots.next_free());
  slots.shared()->served[1].store(9);
  slots.shared()->requests.store(123);

  CounterSlots adopted = CounterSlots::adopt(::fcntl(slots.fd(), F_DUPFD_CLOEXEC, 3), {{400, 0}, {401, 1}});
  CHECK(adopted.shared() != slots.shared());        // a mapping of its own ...
  CHECK(adopted.shared()->requests.load() == 123);  // ... of the same memory
  slots.shared()->requests.fetch_add(1);
  CHECK(adopted.shared()->requests.load() == 124);
  CHECK(adopted.slot_of(401) == 1);
  CHECK(adopted.next_free() == 2);  // 0 and 1 are held
  const auto left = adopted.release(401);
  REQUIRE(left);
  CHECK(left->served == 9);
}

TEST_CASE("core ranges come from a pool: first fit, freed on release, and a full pool is refused") {
  CounterSlots slots = CounterSlots::create();
  const int a = *slots.next_free();
  REQUIRE(slots.reserve_cores(a, 1000));
  slots.assign(1, a);
  const int b = *slots.next_free();
  REQUIRE(slots.reserve_cores(b, 1000));
  slots.assign(2, b);
  auto& shared = *slots.shared();
  CHECK(shared.workers[a].first_core.load() == 0);
  CHECK(shared.workers[b].first_core.load() == 1000);
  CHECK(shared.workers[b].cores.load() == 1000);
  shared.cores[1000].requests.store(5);
  slots.release(1);
  const int c = *slots.next_free();
  REQUIRE(slots.reserve_cores(c, 500));  // fits in the gap the first left
  CHECK(shared.workers[c].first_core.load() == 0);
  slots.assign(3, c);
  const int d = *slots.next_free();
  CHECK_FALSE(slots.reserve_cores(d, SharedCounters::kCoreSlots));
  CHECK(shared.workers[d].cores.load() == 0);
  CHECK(shared.cores[1000].requests.load() == 5);  // b's are untouched
  // A re-executed master sees the ranges the live workers hold.
  CounterSlots adopted = CounterSlots::adopt(::dup(slots.fd()), {{2, b}, {3, c}});
  const int e = *adopted.next_free();
  REQUIRE(adopted.reserve_cores(e, 600));
  CHECK(adopted.shared()->workers[e].first_core.load() == 2000);
}
