#pragma once

// The stats document as uWSGI 2.0 writes it: every key uWSGI has, with the same JSON types
// (its flags are the numbers 0 and 1, not booleans), so uwsgitop and the exporters written
// for uWSGI read ferry unchanged. uWSGI's "locks" list is left out: ferry has none of those
// locks. ferry adds, per core, "request": what it is serving now (method, uri, remote_addr,
// seconds), empty between requests; and at the top "ferry": the phase and the worker count.
// Pure: a snapshot in, the document out.

#include <string>

#include "master/stats_snapshot.hpp"

namespace ferry::master {

// `minified`: no whitespace; else uWSGI's layout (one member per line, tabs).
std::string stats_json(const StatsSnapshot& stats, bool minified);

// "starting", "serving", "reloading" or "stopping".
const char* phase_name(StatsSnapshot::Phase phase);

}  // namespace ferry::master
