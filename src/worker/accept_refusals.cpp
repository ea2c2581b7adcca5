#include "worker/accept_refusals.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace ferry::worker {

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

}  // namespace ferry::worker
