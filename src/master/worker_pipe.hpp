#pragma once

// A pipe a worker writes its output to and the master reads (its stdout/stderr, and with
// req-logger or log-encoder = json its request lines too), sized for a few seconds of
// request lines.

#include <optional>

#include "common/unique_fd.hpp"

namespace ferry::master {

struct WorkerPipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// nullopt, and errno, if pipe2 fails.
std::optional<WorkerPipe> make_worker_pipe(int processes);

}  // namespace ferry::master
