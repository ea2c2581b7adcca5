#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

namespace ferry::master {

// The one place that forks. The child gets default signal handlers, `output_fd` as its
// stdout and stderr, only the descriptors in `keep` (plus stdin), and then runs
// `child_main` and _exits with its result: it never returns into the master's code or
// runs the master's destructors. Returns the child's pid, or -1 with errno set.
//
// `hooks` bracket the fork for a runtime that lives in the master (preload's Python):
// prepare runs in the master just before fork, parent right after it there, and child
// first thing in the child, before its signals are reset.
struct ForkHooks {
  std::function<void()> prepare, parent, child;
};
pid_t fork_child(const std::vector<int>& keep, int output_fd, const std::function<int()>& child_main,
                 const ForkHooks* hooks = nullptr);

}  // namespace ferry::master
