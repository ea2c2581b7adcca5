#pragma once

// The serving threads' accept loop on the uwsgi listening sockets: every listener is
// tried without blocking, and a thread sleeps in poll (with the ready queue and the stop
// eventfd) only when all are idle, so under load a request costs one accept4.

#include <poll.h>
#include <spdlog/logger.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "worker/burst_counter.hpp"

namespace ferry::worker {

// accept() failing for want of descriptors or memory, counted and logged once per burst
// (report_accept_refusals) by whichever serving thread sees it; shared by all of them.
class AcceptRefusals {
 public:
  void note(spdlog::logger& log, int error);
  // After an accept that did not fail that way: cheap unless a burst was going on.
  void clear(spdlog::logger& log);

 private:
  std::mutex mutex_;
  std::atomic<bool> pending_{false};
  BurstCounter counter_;
  int error_ = 0;
};

// One serving thread's view of the listeners.
class UwsgiListeners {
 public:
  // `wake_fds`: also end the wait in poll (the ready queue, the stop eventfd).
  UwsgiListeners(std::vector<int> listen_fds, const std::vector<int>& wake_fds);

  // An accepted connection (non-blocking), or -1 after a wait: the caller looks at its
  // ready queue and the stop, then calls again.
  int accept_next(AcceptRefusals& refusals, spdlog::logger& log);
  // Which of `listen_fds` the last accepted connection came from.
  std::size_t last_listener() const { return last_; }

 private:
  std::vector<int> listeners_;
  std::vector<pollfd> polls_;
  std::size_t next_ = 0;  // round robin, so no listener starves
  std::size_t last_ = 0;
};

}  // namespace ferry::worker
