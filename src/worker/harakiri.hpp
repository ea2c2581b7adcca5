#pragma once

// harakiri's watchdog: a request past its deadline is logged with every Python thread's
// stack, its connection is cut (nginx answers 502 at once instead of waiting), the other
// threads finish their requests, and the worker exits to be replaced. The stuck thread
// cannot be stopped from outside, so the process ends around it. The watchdog's thread
// sleeps until the earliest deadline (RequestClock::wait_for_overdue); it never polls.

#include <signal.h>
#include <spdlog/logger.h>

#include <memory>

#include "worker/request_clock.hpp"

namespace ferry::worker {

// faulthandler dumps every Python thread's stack on this signal: for harakiri, and for
// an operator's kill -USR2 <worker pid>. (SIGUSR2 to the master is a chain reload.)
inline constexpr int kStackDumpSignal = SIGUSR2;

struct HarakiriSettings {
  int harakiri_s = 0;  // harakiri: how long a request may run
  int mercy_s = 0;     // worker-reload-mercy: how long the other threads may finish
  int slot = 0;        // for the log line
  int pid = 0;
};

// Starts the watchdog thread. `stop_serving` tells the serving threads to finish and
// exit, as a stop signal does. After the serving threads are done: clock.stop(), then join
// it (a harakiri in progress ends the process within the mercy instead).
std::thread start_harakiri_watchdog(RequestClock& clock, std::shared_ptr<spdlog::logger> log, HarakiriSettings settings,
                                    void (*stop_serving)());

}  // namespace ferry::worker
