#pragma once

// harakiri's bookkeeping: when each serving thread of this worker started its current
// request, and which request it is, so a watchdog can name the one that overran.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::worker {

class RequestClock {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RequestClock(int threads) : slots_(static_cast<std::size_t>(threads)) {}

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

 private:
  struct Slot {
    mutable std::mutex lock;
    bool busy = false;
    int fd = -1;
    Clock::time_point started;
    std::string method, uri;  // keep their capacity across requests
  };
  std::vector<Slot> slots_;
};

}  // namespace ferry::worker
