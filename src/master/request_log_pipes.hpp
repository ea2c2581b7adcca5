#pragma once

// Request lines on a pipe of their own, when req-logger = file:PATH sends them to their own
// file or log-encoder = json must tell them from the rest: each worker gets a second pipe,
// which a second LogCollector reads in the same batches and writes, in whole lines, to the
// request log (a LogFile of its own, reopened on SIGUSR1 with the main one) or else to the
// main log. Lines from two pipes are never spliced: each collector writes whole lines.

#include <sys/types.h>

#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "common/unique_fd.hpp"
#include "config/log_shape.hpp"
#include "master/log_collector.hpp"

namespace ferry::master {

class RequestLogPipes {
 public:
  // Opens req-logger's file (throws StartupError naming it).
  // req-logger's file rotates at `rotation`'s size as the main log does.
  RequestLogPipes(asio::io_context& io, const config::RequestLogShape& shape, LogFile& main_log, LogRotation rotation);

  // The read end of worker `pid`'s request pipe: its lines are collected from now on.
  // (Marked ready at once: request lines need not be kept to explain a failed start.)
  void add(pid_t pid, UniqueFd read_end) {
    collector_.add(pid, std::move(read_end));
    collector_.ready(pid);
  }
  // The worker was reaped: what it wrote goes out, and its pipe is closed.
  void remove(pid_t pid) { collector_.remove(pid); }
  void flush() { collector_.flush(); }
  void end_lines() { collector_.end_lines(); }
  int pipe_fd(pid_t pid) const { return collector_.pipe_fd(pid); }

  // SIGUSR1, log-reopen, touch-logreopen: continue req-logger's file at its path. The path
  // is empty without req-logger; the error is empty on success.
  struct Reopened {
    std::string path;
    std::string error;
  };
  Reopened reopen();

  // As read at startup: req-logger and log-encoder are kept until a restart (a reload
  // changes log-format and the rest, which the workers apply).
  bool json_other() const { return json_other_; }
  bool own_pipe() const { return own_pipe_; }  // workers get a request-line pipe

 private:
  std::string path_;
  bool json_other_;
  bool own_pipe_;
  UniqueFd fd_;
  std::unique_ptr<LogFile> file_;  // only with req-logger
  LogCollector collector_;
};

}  // namespace ferry::master
