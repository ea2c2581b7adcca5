#pragma once

// The master process: owns the listening sockets, the pidfile and the log; forks the
// workers and carries out the Supervisor's decisions. Returns the process exit code.

#include "config/loader.hpp"

namespace ferry::master {

// Throws StartupError if a socket, the pidfile or the log cannot be set up.
int run_master(config::Loaded loaded);

}  // namespace ferry::master
