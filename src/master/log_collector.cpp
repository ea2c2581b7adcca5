#include "master/log_collector.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/logging.hpp"

namespace ferry::master {

LogCollector::LogCollector(asio::io_context& io, int log_fd)
    : log_fd_(log_fd), epoll_(::epoll_create1(EPOLL_CLOEXEC)), watch_(io), tick_(io) {
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1 for the workers' output");
}

LogCollector::~LogCollector() {
  // epoll_ is ours to close, not Asio's.
  if (watch_.is_open()) [[maybe_unused]] auto fd = watch_.release();
}

void LogCollector::add(pid_t pid, UniqueFd read_end) {
  Output& out = outputs_[pid];
  ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  epoll_event event{};
  event.events = EPOLLIN;  // level-triggered: a pipe left with data is seen again next round
  event.data.u64 = static_cast<std::uint64_t>(pid);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, read_end.get(), &event) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl for a worker's output");
  }
  out.pipe = std::move(read_end);
  wait_for_output();
}

void LogCollector::ready(pid_t pid) {
  if (auto it = outputs_.find(pid); it != outputs_.end()) {
    it->second.ready = true;
    it->second.recent = RecentOutput(kRecentBytes);  // frees what was kept
  }
}

void LogCollector::flush() { read_round(/*to_the_end=*/true); }

std::string LogCollector::remove(pid_t pid) {
  auto it = outputs_.find(pid);
  if (it == outputs_.end()) return {};
  Output& out = it->second;
  if (out.pipe) {
    read_pipe(out, /*to_the_end=*/true);
    if (out.pipe) close_pipe(out);
  }
  write_out();
  std::string recent = out.ready ? std::string() : out.recent.text();
  outputs_.erase(it);
  return recent;
}

int LogCollector::pipe_fd(pid_t pid) const {
  const auto it = outputs_.find(pid);
  return it != outputs_.end() && it->second.pipe ? it->second.pipe.get() : -1;
}

bool LogCollector::read_round(bool to_the_end) {
  std::array<epoll_event, 64> events;
  int n;
  do {
    n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 0);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    const auto it = outputs_.find(static_cast<pid_t>(events[i].data.u64));
    if (it != outputs_.end() && it->second.pipe) read_pipe(it->second, to_the_end);
  }
  write_out();
  return n > 0;
}

void LogCollector::read_pipe(Output& out, bool to_the_end) {
  // Unless asked for everything, a busy pipe gets a few reads per round, so one worker
  // printing without pause cannot hold the others' lines back.
  for (int reads = 0; to_the_end || reads < 4; ++reads) {
    const ssize_t n = ::read(out.pipe.get(), buffer_.data(), buffer_.size());
    if (n > 0) {
      const std::size_t before = pending_.size();
      out.lines.feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n)), pending_);
      if (!out.ready) out.recent.add(std::string_view(pending_).substr(before));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    close_pipe(out);  // end of output (the worker exited) or a broken pipe
    return;
  }
}

void LogCollector::close_pipe(Output& out) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, out.pipe.get(), nullptr);
  out.pipe.reset();
  const std::size_t before = pending_.size();
  out.lines.finish(pending_);  // a last line without its newline
  if (!out.ready) out.recent.add(std::string_view(pending_).substr(before));
}

void LogCollector::write_out() {
  if (pending_.empty()) return;
  write_fully(log_fd_, pending_);
  pending_.clear();
}

// Idle: Asio waits on the epoll set, so the first line after a quiet spell goes out at once.
void LogCollector::wait_for_output() {
  if (watching_ || ticking_) return;
  watching_ = true;
  watch_.assign(epoll_.get());
  watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& error) {
    if (error) return;
    on_output();
  });
}

// Busy: the epoll set leaves Asio's loop, so writes to the pipes wake nobody, and the
// pipes are read every kBatchInterval until a round finds them all empty.
void LogCollector::on_output() {
  watching_ = false;
  [[maybe_unused]] auto fd = watch_.release();
  read_round(/*to_the_end=*/false);
  schedule_tick();
}

void LogCollector::on_tick() {
  ticking_ = false;
  if (!read_round(/*to_the_end=*/false)) {
    wait_for_output();
    return;
  }
  schedule_tick();
}

void LogCollector::schedule_tick() {
  ticking_ = true;
  tick_.expires_after(kBatchInterval);
  tick_.async_wait([this](const asio::error_code& error) {
    if (error) return;
    on_tick();
  });
}

}  // namespace ferry::master
