#pragma once

// harakiri's bookkeeping: when each serving thread of this worker started its current
// request, and which request it is, so a watchdog can name the one that overran. The
// watchdog does not poll: it sleeps until the earliest deadline (plan_deadlines), and a
// request that begins while it sleeps with no deadline, or with a later one, wakes it to
// re-arm.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::worker {

using RequestTime = std::chrono::steady_clock::time_point;

// The watchdog's decision, pure: given when each thread's request began (nullopt: no
// request), who is overdue (the longest running past `limit`) and, if nobody is, when to
// look again (the earliest deadline; nullopt: no request, wait for one).
struct DeadlinePlan {
  std::optional<std::size_t> overdue;
  std::optional<RequestTime> wake_at;
};
DeadlinePlan plan_deadlines(std::span<const std::optional<RequestTime>> started,
                            std::chrono::steady_clock::duration limit, RequestTime now);

class RequestClock {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RequestClock(int threads);

  void begin(int core, int fd, std::string_view method, std::string_view uri, Clock::time_point now);
  void end(int core);

  struct Overdue {
    int core;
    int fd;
    std::string method;
    std::string uri;
    Clock::duration running;
  };
  // The longest-running request past `limit`, if any.
  std::optional<Overdue> overdue(Clock::duration limit, Clock::time_point now) const;
  // How many threads other than `core` are inside a request.
  int busy_except(int core) const;

  // The watchdog's two waits, woken by begin() and end() instead of polling.
  // Blocks until a request has run past `limit`; returns the longest-running one, or
  // nullopt once stop() was called.
  std::optional<Overdue> wait_for_overdue(Clock::duration limit);
  // The worker is done serving: wait_for_overdue returns, so the watchdog can be joined
  // before the clock goes away.
  void stop();
  // Blocks until no thread but `core` is inside a request (true) or `until` (false).
  bool wait_until_idle_except(int core, Clock::time_point until);

 private:
  struct Slot {
    bool busy = false;
    int fd = -1;
    Clock::time_point started;
    std::string method, uri;  // keep their capacity across requests
  };
  std::optional<Overdue> overdue_locked(Clock::duration limit, Clock::time_point now) const;
  int busy_except_locked(int core) const;

  // One lock for the slots and the watchdog's wake-ups: a request takes it twice, and a
  // worker has a few threads, so it is never contended for long.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Slot> slots_;
  mutable std::vector<std::optional<RequestTime>> starts_;  // overdue_locked's scratch
  // The start of the request whose deadline the watchdog sleeps until (max(): none, it
  // waits for any request); a request that began earlier must wake it.
  Clock::time_point armed_for_ = Clock::time_point::max();
  bool watching_ends_ = false;  // wait_until_idle_except is waiting
  bool stopped_ = false;
};

}  // namespace ferry::worker
