#include "worker/accept_refusals.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ferry::worker {
namespace {

// Descriptors left to the rest of the worker (the app's files and database connections,
// the serving threads' clients, the log) out of the open file limit: the front holds at
// most the rest, and sheds its oldest waiting connection to take a new one.
constexpr rlim_t kFdsForTheRest = 64;

}  // namespace

std::size_t connections_allowed() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
  const rlim_t reserve = std::max(kFdsForTheRest, limit.rlim_cur / 8);
  return limit.rlim_cur > 2 * reserve ? static_cast<std::size_t>(limit.rlim_cur - reserve)
                                      : static_cast<std::size_t>(limit.rlim_cur / 2);
}

bool accept_starved(int error) { return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM; }

void report_accept_refusals(spdlog::logger& log, std::string_view what, const BurstCounter::Report& r, int error) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  log.error(
      "{} failed {} time{} in {:.1f} s{}: {}; connections waited in the listen queue (open file limit {}: raise it "
      "with ulimit -n or LimitNOFILE=)",
      what, r.count, r.count == 1 ? "" : "s", std::chrono::duration<double>(r.lasted).count(),
      r.over ? "" : " and still fails", std::strerror(error), static_cast<unsigned long long>(limit.rlim_cur));
}

void report_shed(spdlog::logger& log, const BurstCounter::Report& r, std::size_t held) {
  log.warn(
      "closed {} connection{} in {:.1f} s{} that had not sent a whole request, the oldest first, to take new "
      "ones: this worker holds {} waiting connections, the most its open file limit allows (raise ulimit -n, "
      "or lower http-timeout / socket-timeout)",
      r.count, r.count == 1 ? "" : "s", std::chrono::duration<double>(r.lasted).count(), r.over ? "" : " and goes on",
      held);
}

}  // namespace ferry::worker
