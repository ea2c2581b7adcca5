#include "master/worker_pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace ferry::master {
namespace {

// The capacity asked for a worker's output pipe: 1 MiB, the kernel's default
// /proc/sys/fs/pipe-max-size and the most an unprivileged process may ask for, shared out
// so that all the pipes (two generations during a reload) ask for at most 16 MiB, twice
// that with the request lines' pipes (req-logger, log-encoder = json). The kernel counts
// what is asked for against the user's pipe-user-pages-soft (64 MiB), past which every new
// pipe of that user, the app's included, gets a single page.
int output_pipe_bytes(int processes) {
  constexpr int kMost = 1024 * 1024, kLeast = 64 * 1024, kAll = 16 * 1024 * 1024;
  return std::clamp(kAll / (2 * std::max(processes, 1)), kLeast, kMost);
}

}  // namespace

std::optional<WorkerPipe> make_worker_pipe(int processes) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  WorkerPipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  // Room for a few seconds of request lines: while a re-executed master imports the app
  // for a preload reload, nobody reads the pipes, and a worker whose pipe is full stops
  // answering at its next log line. (Best effort: an unprivileged user past the kernel's
  // pipe-user-pages-soft keeps the default 64 KiB. Pages are only used as filled.)
  ::fcntl(pipe.write_end.get(), F_SETPIPE_SZ, output_pipe_bytes(processes));
  return pipe;
}

}  // namespace ferry::master
