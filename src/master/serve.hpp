#pragma once

// What startup.cpp (run_master) hands the master's loop once everything that needs root is
// done: the sockets bound, the log open, the pidfile written, privileges dropped.

#include <optional>
#include <vector>

#include "common/unique_fd.hpp"
#include "config/loader.hpp"
#include "master/handover.hpp"
#include "master/listeners.hpp"
#include "master/pidfile.hpp"
#include "master/preload.hpp"
#include "worker/tls.hpp"

namespace ferry::master {

struct MasterStart {
  config::Loaded loaded;
  UniqueFd log_fd;
  std::vector<Listener> listeners;
  Preloaded preloaded;
  std::optional<Handover> handover;
  Pidfile pidfile;
  std::optional<Listener> stats_listener;
  worker::TlsContexts tls;
};

// Runs the master until ferry stops; returns the exit code.
int serve(MasterStart start);

}  // namespace ferry::master
