#pragma once

// accept() failing for want of descriptors (EMFILE, ENFILE) or memory, on either kind of
// listener: the connection waits in the listen queue, and the failures are logged once per
// burst (BurstCounter) with the open file limit, which is what to raise.

#include <spdlog/logger.h>

#include <cstddef>
#include <string_view>

#include "worker/burst_counter.hpp"

namespace ferry::worker {

// Whether accept4's `error` means "out of descriptors or memory": the listener stays
// readable, so the caller must pause instead of accepting again at once.
bool accept_starved(int error);

// How many connections the HTTP front may hold: under RLIMIT_NOFILE, so that a flood of
// idle clients (or slowloris) meets a full front, which sheds the oldest, rather than
// accept() failing for everyone, the app included.
std::size_t connections_allowed();

// The line for a burst of connections the front closed to take new ones (make_room), at
// `held`, the most connections_allowed() lets it hold.
void report_shed(spdlog::logger& log, const BurstCounter::Report& report, std::size_t held);

// The line for a burst of such failures; `what` names the listener ("accept on the uwsgi
// socket", "HTTP accept").
void report_accept_refusals(spdlog::logger& log, std::string_view what, const BurstCounter::Report& report, int error);

}  // namespace ferry::worker
