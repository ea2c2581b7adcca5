#pragma once

// The exec side of a preload reload (the handover's format is handover.hpp): a master
// that re-executes itself passes its descriptors and the handover variable to exec; the
// new master takes the handover back out of its environment and rebuilds its listeners
// from it.

#include <signal.h>

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/diagnostics.hpp"
#include "master/handover.hpp"
#include "master/listeners.hpp"

namespace ferry::master {

// The signals a re-exec blocks until the new master listens for them: the default action
// of most would end the master between exec and its first handler.
sigset_t master_signals();

// The path to exec for a reload: this binary's, or the file now at its path (an upgrade
// installed while ferry ran is picked up, as nginx's binary upgrade does).
std::string executable_path();

// Execs `path` with argv "ferry" + `arguments`, the descriptors named in `handover`
// inherited and the handover in the environment. Returns only if exec failed, with its
// errno, after undoing all of that: the caller keeps running as before.
int exec_with_handover(const Handover& handover, const std::string& path, const std::vector<std::string>& arguments);

// Takes the handover out of the environment; returns it if it was meant for this process.
// Its descriptors are made close-on-exec again.
std::optional<Handover> take_handover();

// The handed-over sockets as this master's listeners, which replace config.sockets (the
// sockets are kept across reloads); a warning goes to `warnings` when the configured
// list differs.
std::vector<Listener> adopt_listeners(const Handover& handover, config::Config& config, config::Warnings& warnings);

}  // namespace ferry::master
