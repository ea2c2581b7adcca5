#pragma once

#include <sys/types.h>

#include <algorithm>
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

// Asks worker `pid` to finish its requests and exit (SIGTERM). With `drain`, at a stop of
// the whole server, the signal carries worker::kDrainListeners: the worker also answers
// what waits in the uwsgi sockets' queues, then shuts the sockets down.
void stop_worker(pid_t pid, bool drain);

// The capacity asked for a worker's output pipe: 1 MiB, the kernel's default
// /proc/sys/fs/pipe-max-size and the most an unprivileged process may ask for, shared out
// so that all the pipes (two generations during a reload) ask for at most 16 MiB. The
// kernel counts what is asked for against the user's pipe-user-pages-soft (64 MiB), past
// which every new pipe of that user, the app's included, gets a single page.
inline int output_pipe_bytes(int processes) {
  constexpr int kMost = 1024 * 1024, kLeast = 64 * 1024, kAll = 16 * 1024 * 1024;
  return std::clamp(kAll / (2 * std::max(processes, 1)), kLeast, kMost);
}

}  // namespace ferry::master
