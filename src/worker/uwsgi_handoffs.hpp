#pragma once

// The count of uwsgi connections a serving thread handed to the HTTP front to wait for
// their packet (HttpFront::wait_for_uwsgi_packet), and the end of it at a stop: once the
// front has stopped and holds none, later hand-overs bypass it (they go straight to the
// ready queue) and released_fd() becomes readable, waking the serving threads that wait
// to exit. Nothing polls.

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "common/unique_fd.hpp"

namespace ferry::worker {

class UwsgiHandoffs {
 public:
  // A serving thread hands one over: false once finished (the caller queues it itself).
  bool hold() {
    std::lock_guard lock(mutex_);
    if (finished_) return false;
    held_.fetch_add(1);
    return true;
  }
  // One is back in the ready queue, or closed; returns how many are still held.
  int release() { return held_.fetch_sub(1) - 1; }
  // Stopping: finishes if none is held (true), else the last release() should try again.
  bool finish_if_empty() {
    std::lock_guard lock(mutex_);
    if (held_.load() > 0) return false;
    if (!finished_) {
      finished_.store(true);
      const std::uint64_t one = 1;
      [[maybe_unused]] auto ignored = ::write(released_.get(), &one, sizeof one);
    }
    return true;
  }
  // Finished: the front has stopped and holds none; later hand-overs bypass it.
  bool finished() const { return finished_.load(); }
  int released_fd() const { return released_.get(); }

 private:
  std::mutex mutex_;
  std::atomic<int> held_{0};
  std::atomic<bool> finished_{false};  // set under mutex_, which hold() takes to see it
  UniqueFd released_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
};

}  // namespace ferry::worker
