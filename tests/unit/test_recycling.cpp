// src/worker/recycling.cpp: when a worker asks for a replacement, and why.

#include "worker/recycling.hpp"

#include <doctest/doctest.h>

using namespace ferry::worker;
using namespace std::chrono_literals;

namespace {
WorkerUsage served(std::uint64_t n) { return {.served = n, .lived = {}, .memory = std::nullopt}; }
}  // namespace

TEST_CASE("max-requests is staggered by max-requests-delta, and 0 means never") {
  ferry::config::Config config;
  CHECK(RecyclePolicy::from(config, 3).max_requests == 0);
  config.max_requests = 100;
  config.max_requests_delta = 10;
  CHECK(RecyclePolicy::from(config, 0).max_requests == 100);
  CHECK(RecyclePolicy::from(config, 3).max_requests == 130);
  CHECK_FALSE(RecyclePolicy::from(config, 0).watches_memory());
  config.reload_on_rss_mb = 1;
  CHECK(RecyclePolicy::from(config, 0).watches_memory());
}

TEST_CASE("a worker is recycled once it served max-requests") {
  RecyclePolicy policy;
  policy.max_requests = 5;
  CHECK(recycle_reason(policy, served(4)).empty());
  CHECK(recycle_reason(policy, served(5)) == "served max-requests (5)");
  policy.max_requests = 0;
  CHECK(recycle_reason(policy, served(1000000)).empty());
}

TEST_CASE("nothing recycles a worker younger than min-worker-lifetime") {
  RecyclePolicy policy;
  policy.max_requests = 1;
  policy.reload_on_rss_mb = 10;
  policy.min_lifetime = 60s;
  const WorkerUsage young{.served = 50, .lived = 59s, .memory = MemoryUse{.rss_mb = 500, .as_mb = 900}};
  CHECK(recycle_reason(policy, young).empty());
  WorkerUsage old = young;
  old.lived = 60s;
  CHECK(recycle_reason(policy, old) == "served max-requests (1)");
}

TEST_CASE("memory limits: above reload-on-rss, above reload-on-as, past 90% of limit-as") {
  RecyclePolicy policy;
  policy.reload_on_rss_mb = 100;
  CHECK(recycle_reason(policy, {.served = 0, .lived = {}, .memory = MemoryUse{.rss_mb = 100, .as_mb = 5000}}).empty());
  CHECK(recycle_reason(policy, {.served = 0, .lived = {}, .memory = MemoryUse{.rss_mb = 101, .as_mb = 5000}}) ==
        "uses 101 MB of resident memory, above reload-on-rss = 100");
  CHECK(recycle_reason(policy, served(1)).empty());  // memory not measured

  policy = {};
  policy.reload_on_as_mb = 200;
  CHECK(recycle_reason(policy, {.served = 0, .lived = {}, .memory = MemoryUse{.rss_mb = 1, .as_mb = 201}}) ==
        "uses 201 MB of address space, above reload-on-as = 200");

  policy = {};
  policy.limit_as_mb = 1000;
  CHECK(recycle_reason(policy, {.served = 0, .lived = {}, .memory = MemoryUse{.rss_mb = 1, .as_mb = 900}}).empty());
  CHECK(recycle_reason(policy, {.served = 0, .lived = {}, .memory = MemoryUse{.rss_mb = 1, .as_mb = 901}}) ==
        "uses 901 MB of address space, near limit-as = 1000");
}

TEST_CASE("statm's first two fields are the address space and the resident set, in pages") {
  const auto use = parse_statm("2560 512 100 1 0 300 0\n", 4096);
  REQUIRE(use);
  CHECK(use->as_mb == 10);
  CHECK(use->rss_mb == 2);
  CHECK_FALSE(parse_statm("", 4096));
  CHECK_FALSE(parse_statm("12", 4096));
}
