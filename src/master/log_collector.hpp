#pragma once

// The master's side of the workers' output: each worker's stdout and stderr (its own log
// lines, the request log, whatever the app prints) is a pipe that the master reads and
// appends to the log file in whole lines.
//
// Under load that is a line per request, and waking the master for each one cost about a
// fifth of a hello-world request's CPU, and 20 µs of kernel time per Django request
// (docs/benchmarks.md, "The log collector"). So the pipes
// are read in batches: while lines keep coming, nobody waits on the pipes and they are read
// every kBatchInterval, so a worker's write wakes no one. Once a round finds nothing, the
// master waits on the pipes again, and the first line after a quiet spell is written
// at once. A line therefore reaches the log at most kBatchInterval late, and none is lost:
// what a dead worker wrote is read before its obituary, and the master's own lines go out
// only after everything the workers wrote before them (flush()).

#include <sys/types.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include "common/unique_fd.hpp"
#include "master/log_lines.hpp"
#include "master/log_rotation.hpp"

namespace ferry::master {

// The master's writes to the log: its own lines and everything the workers print. When the
// log cannot be written (ENOSPC, EDQUOT, EIO, ...), whole writes are dropped and counted as
// LogOutage says: stderr hears of it once, each later write tries again, and the first to
// get through is preceded by a note of how many lines were lost.
class LogFile {
 public:
  // fd stays the caller's (its number must stay valid: a reopened log is dup3()ed onto
  // it); path is only for the messages, empty for stderr; notices go to notice_fd.
  LogFile(int fd, std::string path, int notice_fd = 2);
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Writes `lines`, which end in a newline. With a size limit (set_rotation), the file is
  // first rotated where the lines would take it past the limit, between two lines.
  void write(std::string_view lines);

  // log-maxsize / log-backupname (log_rotation.hpp); a LogRotation{} turns it off.
  void set_rotation(LogRotation rotation) { rotation_ = std::move(rotation); }
  // Other descriptors that are this log too (the master's stdout and stderr when it is
  // daemonized): a reopen points them at the new file as well.
  void set_mirrors(std::vector<int> fds) { mirrors_ = std::move(fds); }

  // Continues in a fresh file at the path (SIGUSR1 after logrotate moved it, log-reopen,
  // touch-logreopen, a rotation); the descriptor number stays. Empty on success, else what
  // went wrong and what to do; the old file is kept then.
  std::string reopen();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  const LogOutage& outage() const { return outage_; }

 private:
  void write_lines(std::string_view lines);
  bool write_some(std::string_view& rest);  // false, and errno, once a write fails
  bool rotate();                            // false (and a note once) if the file could not be moved

  int fd_;
  std::string path_;
  int notice_fd_;
  LogRotation rotation_;
  std::vector<int> mirrors_;
  bool rotation_failed_ = false;  // said once, until a rotation works again
  bool fresh_ = false;            // just rotated: takes at least one line, whatever its size
  LogOutage outage_;
  bool at_line_start_ = true;  // a write cut short leaves half a line in the file
};

class LogCollector {
 public:
  static constexpr std::chrono::milliseconds kBatchInterval{5};
  // What a worker printed before it was ready is kept, up to this much, to repeat on the
  // terminal if it fails to load its app.
  static constexpr std::size_t kRecentBytes = 32 * 1024;
  // A busy round reads at most this much from a pipe before moving on to the next.
  static constexpr std::size_t kRoundBytes = 256 * 1024;
  // Lines are written out once this much is waiting, so a flood is passed on in pieces
  // rather than held in the master's memory.
  static constexpr std::size_t kMaxPending = 1024 * 1024;

  LogCollector(asio::io_context& io, LogFile& log);
  ~LogCollector();
  LogCollector(const LogCollector&) = delete;
  LogCollector& operator=(const LogCollector&) = delete;

  // Starts collecting what worker `pid` writes to the pipe whose read end this is.
  void add(pid_t pid, UniqueFd read_end);

  // The worker is serving: what it prints from now on need not be kept for a load failure.
  void ready(pid_t pid);

  // Writes out everything the workers' pipes hold now (what they wrote before this call;
  // not what they go on writing meanwhile).
  void flush();

  // Before the master re-executes itself: flush(), then end each worker's unfinished line
  // with a newline, since this process's memory of it is about to go. The rest of such a
  // line reaches the log as a line of its own, through the new master.
  void end_lines();

  // The worker was reaped: writes out the rest of its output, closes its pipe and forgets
  // it. Returns what it printed before it was ready (empty if it got ready).
  std::string remove(pid_t pid);

  // The read end of the worker's pipe, or -1 once it is closed; for the re-exec handover.
  int pipe_fd(pid_t pid) const;

  // log-encoder = json: each line read from now on is written as a JSON object.
  void encode_as_json() { json_ = true; }

 private:
  struct Output {
    pid_t pid = 0;
    UniqueFd pipe;
    LineJoiner lines;
    bool ready = false;
    RecentOutput recent{kRecentBytes};
  };

  bool read_round();               // reads the pipes with data; true if any had some
  void read_written(Output& out);  // reads what the pipe holds now
  void read_pipe(Output& out, std::size_t limit);
  void close_pipe(Output& out);
  void encode_from(std::size_t before, pid_t pid);  // pending_'s lines past `before`, as JSON
  void write_out();
  void wait_for_output();
  void on_output();
  void on_tick();
  void schedule_tick();

  LogFile& log_;
  UniqueFd epoll_;                        // the pipes, level-triggered
  asio::posix::stream_descriptor watch_;  // epoll_ inside Asio's loop, while idle
  asio::steady_timer tick_;               // the batch interval, while busy
  std::map<pid_t, Output> outputs_;
  std::array<char, 64 * 1024> buffer_{};
  std::string pending_;  // whole lines read in this round, written with one write(2)
  bool watching_ = false;
  bool ticking_ = false;
  bool json_ = false;
  std::string plain_;  // with json_: the lines read, before encoding
};

}  // namespace ferry::master
