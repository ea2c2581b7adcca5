#pragma once

// ferry's log lines: "2026-11-25 10:37:38.123 master[812] info: ..." written with one
// write(2) per line to a file descriptor. The master owns the log file; a worker's fd 2 is
// a pipe the master reads, so lines from many workers never interleave mid-line.
//
// spdlog is not fork-safe: each process makes its loggers after it is forked, never
// inheriting them (see its maintainers' advice in spdlog's issues).

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace ferry {

// `before_each`, if given, runs before each line is written (the master empties the
// workers' pipes into the log first, so the log keeps the order things happened in).
std::shared_ptr<spdlog::logger> make_fd_logger(const std::string& name, int fd, std::function<void()> before_each = {});

// Writes all of `data`, retrying on EINTR and short writes. False if the fd is gone.
bool write_fully(int fd, std::string_view data);

// Writes `line` plus a newline in one write(2), for lines outside spdlog's format (the
// request log, and the Python side's notes around a traceback).
void write_line(int fd, std::string_view line);

}  // namespace ferry
