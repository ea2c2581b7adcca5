// src/common/exit_codes.hpp: each reason a process ends has its own code.

#include "common/exit_codes.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace ferry;

TEST_CASE("every exit code is distinct, and only kExitOk is zero") {
  const std::set<int> codes{kExitOk, kExitConfig, kExitStartup, kExitAppLoad, kExitHarakiri};
  CHECK(codes.size() == 5);
  CHECK(kExitOk == 0);
  // 1 is what an uncaught exception or a shell error gives; none of ours may be mistaken for it.
  CHECK(codes.count(1) == 0);
  for (int code : codes) CHECK(code < 126);  // 126+ mean "cannot execute" and "killed by a signal"
}

TEST_CASE("a failed --ping exits 1, as uWSGI's does and as Docker's HEALTHCHECK reads unhealthy") {
  CHECK(kExitPingFailed == 1);
}
