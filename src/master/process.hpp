#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

namespace ferry::master {

// The one place that forks. The child gets default signal handlers, `output_fd` as its
// stdout and stderr, only the descriptors in `keep` (plus stdin), and then runs
// `child_main` and _exits with its result: it never returns into the master's code or
// runs the master's destructors. Returns the child's pid, or -1 with errno set.
pid_t fork_child(const std::vector<int>& keep, int output_fd, const std::function<int()>& child_main);

}  // namespace ferry::master
