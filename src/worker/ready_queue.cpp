#include <sys/eventfd.h>
#include <unistd.h>

#include "worker/http_front.hpp"

namespace ferry::worker {

ReadyQueue::ReadyQueue() : event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) {}

void ReadyQueue::push(std::unique_ptr<HttpConnection> connection) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(connection));
  }
  queued_.fetch_add(1, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(event_.get(), &one, sizeof one);
}

std::unique_ptr<HttpConnection> ReadyQueue::try_pop() {
  if (queued_.load(std::memory_order_acquire) == 0) return nullptr;
  std::uint64_t token = 0;
  // Semaphore mode: one successful read is one queued connection, so exactly one of the
  // serving threads woken by the poll takes it.
  if (::read(event_.get(), &token, sizeof token) != sizeof token) return nullptr;
  std::lock_guard lock(mutex_);
  auto connection = std::move(queue_.front());
  queue_.pop_front();
  queued_.fetch_sub(1, std::memory_order_relaxed);
  return connection;
}

}  // namespace ferry::worker
