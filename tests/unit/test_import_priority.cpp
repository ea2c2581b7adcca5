// src/common/import_priority.cpp: an import during serving runs at a lower priority, and
// afterwards this thread and the threads started meanwhile are put back.

#include "common/import_priority.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "in_child.hpp"

using ferry::ImportPriority;

using ferry::test::in_child;

namespace {

int nice_of_this_thread() {
  errno = 0;
  return ::getpriority(PRIO_PROCESS, 0);
}

}  // namespace

TEST_CASE("not asked to lower: the priority is untouched") {
  const int before = nice_of_this_thread();
  {
    const ImportPriority priority(false);
    CHECK(nice_of_this_thread() == before);
  }
  CHECK(nice_of_this_thread() == before);
}

TEST_CASE("lowered by kIncrement while it lives, then back, with the threads started meanwhile") {
  if (::geteuid() != 0) {
    MESSAGE("not root: lowering could not be undone, so it is not done (the case below); skipped");
    return;
  }
  const int code = in_child([] {
    if (::setpriority(PRIO_PROCESS, 0, 0) != 0) return 0;  // cannot arrange the start: nothing to see
    std::atomic<int> tid{0};
    std::atomic<bool> done{false};
    std::thread app_thread;
    int inside = 0;
    {
      const ImportPriority priority(true);
      inside = nice_of_this_thread();
      // A thread the app starts during the import inherits the lowered value and outlives
      // the import: it must be put back too.
      app_thread = std::thread([&] {
        tid = static_cast<int>(::gettid());
        while (!done) std::this_thread::yield();
      });
      while (tid == 0) std::this_thread::yield();
      if (::getpriority(PRIO_PROCESS, static_cast<id_t>(tid.load())) != inside) return 3;
    }
    const int after = nice_of_this_thread();
    const int thread_after = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid.load()));
    done = true;
    app_thread.join();
    if (inside != ImportPriority::kIncrement) return 1;  // root may undo it, so it is lowered
    if (after != 0) return 2;
    if (thread_after != 0) return 4;
    return 0;
  });
  CHECK(code == 0);
}

TEST_CASE("not lowered when it could not be undone (no CAP_SYS_NICE, RLIMIT_NICE 0)") {
  const int code = in_child([] {
    if (::getuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) return 10;
    const rlimit none{0, 0};
    ::setrlimit(RLIMIT_NICE, &none);
    const int before = nice_of_this_thread();
    if (before >= 19 - ImportPriority::kIncrement) return 0;  // nothing to lower to
    {
      const ImportPriority priority(true);
      if (nice_of_this_thread() != before) return 11;  // lowering for good would be worse than not at all
    }
    return nice_of_this_thread() == before ? 0 : 12;
  });
  CHECK(code == 0);
}
