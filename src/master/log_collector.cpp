#include "master/log_collector.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <system_error>
#include <utility>

#include "common/logging.hpp"
#include "master/daemon.hpp"
#include "master/startup_error.hpp"
#include "master/json_log_line.hpp"

namespace ferry::master {

LogFile::LogFile(int fd, std::string path, int notice_fd) : fd_(fd), path_(std::move(path)), notice_fd_(notice_fd) {}

void LogFile::write(std::string_view lines) {
  while (rotation_.enabled() && !path_.empty() && !lines.empty()) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) break;
    const std::size_t fit = rotation_.fits(static_cast<std::uint64_t>(st.st_size), lines, fresh_);
    if (fit == lines.size()) break;
    if (fit > 0) write_lines(lines.substr(0, fit));
    lines.remove_prefix(fit);
    fresh_ = false;
    if (!rotate()) break;  // the rest goes on into the full file
  }
  if (!lines.empty()) write_lines(lines);
  fresh_ = false;
}

std::string LogFile::reopen() {
  if (path_.empty()) return {};
  try {
    UniqueFd fresh = open_log(path_);
    if (::dup3(fresh.get(), fd_, O_CLOEXEC) < 0) return fmt::format("dup3: {}", std::strerror(errno));
    for (const int fd : mirrors_) ::dup2(fd_, fd);
    at_line_start_ = true;
    return {};
  } catch (const StartupError& e) {
    const int error = errno;  // open(2)'s, as open_log left it
    return log_reopen_failure(e.what(), error, ::geteuid());
  }
}

namespace {

// rename(2) that replaces `to` only if asked: 0, EEXIST when `to` is taken, or the errno.
int move_aside(const std::string& from, const std::string& to, bool replace) {
  if (!replace) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL) return errno;
    // A filesystem without RENAME_NOREPLACE: look first (only this process renames here).
    if (::access(to.c_str(), F_OK) == 0) return EEXIST;
  }
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

}  // namespace

// Moves the full file aside (never over an earlier backup, unless log-backupname names
// one) and continues in a fresh one; undone if the fresh one cannot be opened. A file that
// is no longer at the path (moved by someone else) is left where it is.
bool LogFile::rotate() {
  const std::time_t now = std::time(nullptr);
  std::string backup, error;
  struct stat ours {};
  struct stat there {};
  const bool moved = ::fstat(fd_, &ours) == 0 &&
                     (::stat(path_.c_str(), &there) != 0 || there.st_ino != ours.st_ino || there.st_dev != ours.st_dev);
  for (int attempt = 0; !moved; ++attempt) {
    backup = rotation_.backup_path(path_, now, attempt);
    const int failed = move_aside(path_, backup, /*replace=*/!rotation_.backup_name.empty());
    if (failed == 0) break;
    if (failed == EEXIST) continue;  // a rotation earlier in the same second: the next name
    error = log_rotate_failure(path_, backup, failed, ::geteuid());
    break;
  }
  if (error.empty()) {
    error = reopen();
    if (!error.empty()) {
      if (!moved) ::rename(backup.c_str(), path_.c_str());
      error = "ferry: log-maxsize: " + error + "\n";
    }
  }
  if (!error.empty()) {
    if (!rotation_failed_) write_lines(error);
    if (!rotation_failed_ && notice_fd_ != fd_) write_fully(notice_fd_, error);
    rotation_failed_ = true;
    return false;
  }
  rotation_failed_ = false;
  fresh_ = true;
  write_lines(log_rotated_note(rotation_.max_bytes, moved ? std::string() : backup));
  return true;
}

void LogFile::write_lines(std::string_view lines) {
  if (outage_.active()) {
    // The note first, so it comes before the lines that follow the gap.
    std::string note = log_resumed_note(path_, outage_.error(), outage_.dropped());
    if (!at_line_start_) note.insert(0, "\n");
    std::string_view rest = note;
    if (!write_some(rest)) {
      const int error = errno;
      outage_.on_failure(error, count_lines(lines));
      return;
    }
    // stderr hears of it too: it was told of the outage, maybe the only place it was.
    if (notice_fd_ != fd_) write_fully(notice_fd_, note.substr(note.front() == '\n' ? 1 : 0));
    outage_.on_resumed();
  }
  std::string_view rest = lines;
  if (write_some(rest)) return;
  const int error = errno;
  // Only what is left is lost; retried at the next write, not now, so that a full disk
  // costs one failed write(2) per batch of lines and never blocks the master's loop.
  if (outage_.on_failure(error, count_lines(rest)) && notice_fd_ != fd_) {
    write_fully(notice_fd_, log_outage_notice(path_, outage_.error()));
  }
}

bool LogFile::write_some(std::string_view& rest) {
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;  // write(2) of a non-empty buffer to a file returning 0: treat as a failure
      return false;
    }
    at_line_start_ = rest[static_cast<std::size_t>(n) - 1] == '\n';
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

LogCollector::LogCollector(asio::io_context& io, LogFile& log)
    : log_(log), epoll_(::epoll_create1(EPOLL_CLOEXEC)), watch_(io), tick_(io) {
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1 for the workers' output");
}

LogCollector::~LogCollector() {
  // epoll_ is ours to close, not Asio's.
  if (watch_.is_open()) [[maybe_unused]]
    auto fd = watch_.release();
}

void LogCollector::add(pid_t pid, UniqueFd read_end) {
  Output& out = outputs_[pid];
  out.pid = pid;
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

void LogCollector::flush() {
  for (auto& [pid, out] : outputs_) read_written(out);
  write_out();
}

void LogCollector::end_lines() {
  flush();
  for (auto& [pid, out] : outputs_) {
    const std::size_t before = pending_.size();
    out.lines.finish(pending_);
    encode_from(before, pid);
  }
  write_out();
}

std::string LogCollector::remove(pid_t pid) {
  auto it = outputs_.find(pid);
  if (it == outputs_.end()) return {};
  Output& out = it->second;
  if (out.pipe) {
    // Only what is there: a process the worker started may still hold its output and be
    // writing, and the master must not read on behind it.
    read_written(out);
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

// A busy round: every pipe with data (however many workers there are), and from each a
// few reads' worth, so one worker printing without pause cannot hold the others back.
bool LogCollector::read_round() {
  std::array<epoll_event, 64> events;
  bool any = false;
  // More than one batch only with more than 64 workers; bounded, since pipes that stay
  // busy are reported again and again.
  for (std::size_t batch = 0; batch <= outputs_.size() / events.size(); ++batch) {
    int n;
    do {
      n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 0);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; ++i) {
      const auto it = outputs_.find(static_cast<pid_t>(events[i].data.u64));
      if (it != outputs_.end() && it->second.pipe) read_pipe(it->second, kRoundBytes);
    }
    any = any || n > 0;
    if (n < static_cast<int>(events.size())) break;
  }
  write_out();
  return any;
}

void LogCollector::read_written(Output& out) {
  if (!out.pipe) return;
  int available = 0;
  if (::ioctl(out.pipe.get(), FIONREAD, &available) != 0) available = 0;
  // At least one read: it also tells a pipe at its end (0 bytes available) from one
  // still open.
  read_pipe(out, static_cast<std::size_t>(std::max(available, 1)));
}

void LogCollector::read_pipe(Output& out, std::size_t limit) {
  std::size_t got = 0;
  while (got < limit) {
    const ssize_t n = ::read(out.pipe.get(), buffer_.data(), std::min(buffer_.size(), limit - got));
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      const std::size_t before = pending_.size();
      out.lines.feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n)), pending_);
      if (!out.ready) out.recent.add(std::string_view(pending_).substr(before));
      encode_from(before, out.pid);
      if (pending_.size() >= kMaxPending) write_out();
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
  encode_from(before, out.pid);
}

void LogCollector::encode_from(std::size_t before, pid_t pid) {
  if (!json_ || pending_.size() == before) return;
  plain_.assign(pending_, before);
  pending_.resize(before);
  append_json_log_lines(pending_, plain_, pid, std::chrono::system_clock::now());
}

void LogCollector::write_out() {
  if (pending_.empty()) return;
  log_.write(pending_);
  pending_.clear();
  if (pending_.capacity() > kMaxPending) std::string().swap(pending_);  // after a burst
}

// Idle: Asio waits on the epoll set, so the first line after a quiet spell goes out at once.
void LogCollector::wait_for_output() {
  if (watching_ || ticking_) return;
  watching_ = true;
  watch_.assign(epoll_.get());
  watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& error) {
    if (error == asio::error::operation_aborted) return;
    on_output();  // on any other error too: a round reads what it can, and polls again
  });
}

// Busy: the epoll set leaves Asio's loop, so writes to the pipes wake nobody, and the
// pipes are read every kBatchInterval until a round finds them all empty.
void LogCollector::on_output() {
  watching_ = false;
  [[maybe_unused]] auto fd = watch_.release();
  read_round();
  schedule_tick();
}

void LogCollector::on_tick() {
  ticking_ = false;
  if (!read_round()) {
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
