#include "worker/uwsgi_listeners.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "worker/accept_refusals.hpp"

namespace ferry::worker {
namespace {

// How long a serving thread waits for descriptors when accept fails with EMFILE.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

}  // namespace

void AcceptRefusals::note(spdlog::logger& log, int error) {
  std::lock_guard lock(mutex_);
  pending_.store(true, std::memory_order_relaxed);
  error_ = error;
  if (auto r = counter_.note(std::chrono::steady_clock::now())) {
    report_accept_refusals(log, "accept on the uwsgi socket", *r, error_);
  }
}

void AcceptRefusals::clear(spdlog::logger& log) {
  if (!pending_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex_);
  pending_.store(false, std::memory_order_relaxed);
  if (auto r = counter_.end(std::chrono::steady_clock::now())) {
    report_accept_refusals(log, "accept on the uwsgi socket", *r, error_);
  }
}

UwsgiListeners::UwsgiListeners(std::vector<int> listen_fds, const std::vector<int>& wake_fds)
    : listeners_(std::move(listen_fds)) {
  for (int fd : listeners_) polls_.push_back({fd, POLLIN, 0});
  for (int fd : wake_fds) polls_.push_back({fd, POLLIN, 0});
}

int UwsgiListeners::accept_next(AcceptRefusals& refusals, spdlog::logger& log) {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    const std::size_t at = (next_ + i) % listeners_.size();
    const int fd = ::accept4(listeners_[at], nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      last_ = at;
      next_ = (next_ + i + 1) % listeners_.size();
      refusals.clear(log);
      return fd;
    }
    if (accept_starved(errno)) {
      // The connection stays in the listen queue and the listener stays readable, so
      // polling again at once would spin at 100 % CPU: wait for descriptors to be freed
      // (a slow client timing out, a response finishing) instead.
      refusals.note(log, errno);
      std::this_thread::sleep_for(kAcceptPause);
      return -1;
    }
  }
  refusals.clear(log);
  ::poll(polls_.data(), polls_.size(), -1);
  return -1;
}

}  // namespace ferry::worker
