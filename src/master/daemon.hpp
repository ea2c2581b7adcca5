#pragma once

// The master's own output: the log file it writes (or stderr), and daemonize's detaching
// from the terminal onto that file.

#include <string>

#include "common/unique_fd.hpp"

namespace ferry::master {

// The log file opened for appending, or a copy of stderr when `path` is empty; the
// descriptor is above 2 and close-on-exec. Throws StartupError naming the path.
UniqueFd open_log(const std::string& path);

// Detaches from the terminal as uWSGI's daemonize does: the calling process _exits at
// once with kExitOk, the child continues in a new session with stdin on /dev/null and
// stdout/stderr on `log_fd`. Throws StartupError if the fork fails.
void daemonize(int log_fd);

}  // namespace ferry::master
