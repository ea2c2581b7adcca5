#include "worker/request_clock.hpp"

namespace ferry::worker {

DeadlinePlan plan_deadlines(std::span<const std::optional<RequestTime>> started,
                            std::chrono::steady_clock::duration limit, RequestTime now) {
  DeadlinePlan plan;
  std::optional<RequestTime> oldest;
  for (std::size_t core = 0; core < started.size(); ++core) {
    if (!started[core] || (oldest && *started[core] >= *oldest)) continue;
    oldest = started[core];
    if (now - *oldest >= limit) plan.overdue = core;
  }
  if (oldest && !plan.overdue) plan.wake_at = *oldest + limit;
  return plan;
}

RequestClock::RequestClock(int threads)
    : slots_(static_cast<std::size_t>(threads)), starts_(static_cast<std::size_t>(threads)) {}

void RequestClock::begin(int core, int fd, std::string_view method, std::string_view uri, Clock::time_point now) {
  std::lock_guard guard(mutex_);
  Slot& slot = slots_[static_cast<std::size_t>(core)];
  slot.busy = true;
  slot.fd = fd;
  slot.started = now;
  slot.method.assign(method);
  slot.uri.assign(uri);
  // Usually the watchdog sleeps until an older request's deadline, which comes first.
  if (now < armed_for_) changed_.notify_one();
}

void RequestClock::end(int core) {
  std::lock_guard guard(mutex_);
  slots_[static_cast<std::size_t>(core)].busy = false;
  if (watching_ends_) changed_.notify_one();
}

std::optional<RequestClock::Overdue> RequestClock::overdue_locked(Clock::duration limit, Clock::time_point now) const {
  for (std::size_t core = 0; core < slots_.size(); ++core) {
    starts_[core] = slots_[core].busy ? std::optional(slots_[core].started) : std::nullopt;
  }
  const auto plan = plan_deadlines(starts_, limit, now);
  if (!plan.overdue) return std::nullopt;
  const Slot& slot = slots_[*plan.overdue];
  return Overdue{static_cast<int>(*plan.overdue), slot.fd, slot.method, slot.uri, now - slot.started};
}

std::optional<RequestClock::Overdue> RequestClock::overdue(Clock::duration limit, Clock::time_point now) const {
  std::lock_guard guard(mutex_);
  return overdue_locked(limit, now);
}

int RequestClock::busy_except_locked(int core) const {
  int busy = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].busy && static_cast<int>(i) != core) ++busy;
  }
  return busy;
}

int RequestClock::busy_except(int core) const {
  std::lock_guard guard(mutex_);
  return busy_except_locked(core);
}

void RequestClock::stop() {
  std::lock_guard guard(mutex_);
  stopped_ = true;
  changed_.notify_all();
}

std::optional<RequestClock::Overdue> RequestClock::wait_for_overdue(Clock::duration limit) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopped_) return std::nullopt;
    const auto now = Clock::now();
    if (auto stuck = overdue_locked(limit, now)) {
      armed_for_ = Clock::time_point::max();
      return std::move(*stuck);
    }
    const auto plan = plan_deadlines(starts_, limit, now);  // starts_ as overdue_locked filled it
    if (plan.wake_at) {
      armed_for_ = *plan.wake_at - limit;
      changed_.wait_until(lock, *plan.wake_at);
    } else {
      armed_for_ = Clock::time_point::max();
      changed_.wait(lock);
    }
  }
}

bool RequestClock::wait_until_idle_except(int core, Clock::time_point until) {
  std::unique_lock lock(mutex_);
  watching_ends_ = true;
  const bool idle = changed_.wait_until(lock, until, [&] { return busy_except_locked(core) == 0; });
  watching_ends_ = false;
  return idle;
}

}  // namespace ferry::worker
