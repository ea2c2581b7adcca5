// src/worker/stats_counters.cpp: the histogram buckets, status classes, and the sequence
// lock a core's current request is written under.

#include "worker/stats_counters.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <thread>

using namespace ferry::worker;

TEST_CASE("a duration falls in the first bucket whose bound it does not pass, else +Inf") {
  CHECK(duration_bucket(0) == 0);
  CHECK(duration_bucket(5000) == 0);
  CHECK(duration_bucket(5001) == 1);
  CHECK(duration_bucket(999'999) == 7);  // <= 1 s
  CHECK(duration_bucket(60'000'000) == kDurationBounds.size() - 1);
  CHECK(duration_bucket(60'000'001) == kDurationBounds.size());
}

TEST_CASE("status classes: 1xx..5xx, and 0 (nothing sent) or nonsense as other") {
  CHECK(status_class(101) == 0);
  CHECK(status_class(200) == 1);
  CHECK(status_class(304) == 2);
  CHECK(status_class(404) == 3);
  CHECK(status_class(599) == 4);
  CHECK(status_class(0) == 5);
  CHECK(status_class(600) == 5);
}

TEST_CASE("a core's request is read back whole, truncated to fit, and cleared at its end") {
  auto core = std::make_unique<CoreCounters>();
  CoreRequest out;
  REQUIRE(read_core_request(*core, out));
  CHECK_FALSE(out.in_request);
  const auto start = std::chrono::system_clock::time_point(std::chrono::microseconds(1'796'640'000'123'456));
  begin_core_request(*core, "GET", "/a?b=c", "10.1.2.3", start);
  REQUIRE(read_core_request(*core, out));
  CHECK(out.in_request);
  CHECK(out.method == "GET");
  CHECK(out.uri == "/a?b=c");
  CHECK(out.remote == "10.1.2.3");
  CHECK(out.started_us == 1'796'640'000'123'456);
  begin_core_request(*core, "PROPFINDPROPFINDPROPFIND", std::string(1000, 'u'), "x", start);
  REQUIRE(read_core_request(*core, out));
  CHECK(out.method.size() == CoreCounters::kMethod);
  CHECK(out.uri.size() == CoreCounters::kUri);
  end_core_request(*core);
  REQUIRE(read_core_request(*core, out));
  CHECK_FALSE(out.in_request);
}

TEST_CASE("a reader racing the writer never sees a mix of two requests") {
  auto core = std::make_unique<CoreCounters>();
  const auto start = std::chrono::system_clock::now();
  const std::string a(200, 'a'), b(200, 'b');
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i)
      begin_core_request(*core, "GET", i % 2 ? a : b, i % 2 ? "1.1.1.1" : "2.2.2.2", start);
    done = true;
  });
  int whole = 0;
  // On a loaded machine the writer can finish before one read got in: the last read, with
  // the writer gone, must be whole too (and ends the loop).
  while (!done.load() || whole == 0) {
    CoreRequest out;
    if (!read_core_request(*core, out) || !out.in_request) continue;
    ++whole;
    const char c = out.uri.front();
    CHECK(out.uri.find_first_not_of(c) == std::string_view::npos);
    CHECK(out.remote == (c == 'a' ? "1.1.1.1" : "2.2.2.2"));
  }
  writer.join();
  CHECK(whole > 0);
}
