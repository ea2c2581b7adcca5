#include "worker/request_clock.hpp"

namespace ferry::worker {

void RequestClock::begin(int core, int fd, std::string_view method, std::string_view uri, Clock::time_point now) {
  Slot& slot = slots_[static_cast<std::size_t>(core)];
  std::lock_guard guard(slot.lock);
  slot.busy = true;
  slot.fd = fd;
  slot.started = now;
  slot.method.assign(method);
  slot.uri.assign(uri);
}

void RequestClock::end(int core) {
  Slot& slot = slots_[static_cast<std::size_t>(core)];
  std::lock_guard guard(slot.lock);
  slot.busy = false;
}

std::optional<RequestClock::Overdue> RequestClock::overdue(Clock::duration limit, Clock::time_point now) const {
  std::optional<Overdue> worst;
  for (std::size_t core = 0; core < slots_.size(); ++core) {
    const Slot& slot = slots_[core];
    std::lock_guard guard(slot.lock);
    if (!slot.busy || now - slot.started <= limit) continue;
    if (!worst || now - slot.started > worst->running) {
      worst = Overdue{static_cast<int>(core), slot.fd, slot.method, slot.uri, now - slot.started};
    }
  }
  return worst;
}

int RequestClock::busy_except(int core) const {
  int busy = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    std::lock_guard guard(slots_[i].lock);
    if (slots_[i].busy && static_cast<int>(i) != core) ++busy;
  }
  return busy;
}

}  // namespace ferry::worker
