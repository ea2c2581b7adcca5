#include "worker/harakiri.hpp"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/exit_codes.hpp"
#include "common/logging.hpp"

namespace ferry::worker {
namespace {

void watch(RequestClock& clock, std::shared_ptr<spdlog::logger> log, HarakiriSettings settings,
           void (*stop_serving)()) {
  const auto overdue = clock.wait_for_overdue(std::chrono::seconds(settings.harakiri_s));
  if (!overdue) return;  // the worker stopped serving
  const auto& stuck = *overdue;
  log->error(
      "harakiri: {} {} has run for {:.1f} s, past harakiri = {} s (worker {}, pid {}, thread {}); "
      "the Python stack of every thread follows, then this worker is replaced",
      LogSafe{stuck.method}, LogSafe{stuck.uri}, std::chrono::duration<double>(stuck.running).count(),
      settings.harakiri_s, settings.slot, settings.pid, stuck.core);
  // faulthandler dumps the stacks from the signal handler, before pthread_kill returns.
  ::pthread_kill(::pthread_self(), kStackDumpSignal);
  ::shutdown(stuck.fd, SHUT_RDWR);
  stop_serving();
  clock.wait_until_idle_except(stuck.core, RequestClock::Clock::now() + std::chrono::seconds(settings.mercy_s));
  ::_exit(kExitHarakiri);
}

}  // namespace

std::thread start_harakiri_watchdog(RequestClock& clock, std::shared_ptr<spdlog::logger> log, HarakiriSettings settings,
                                    void (*stop_serving)()) {
  return std::thread(watch, std::ref(clock), std::move(log), settings, stop_serving);
}

}  // namespace ferry::worker
