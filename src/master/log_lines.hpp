#pragma once

// Turns the byte stream of a worker's output pipe into whole lines. A worker's writes can
// end mid-line (a print without a newline, a traceback cut by a full pipe), and lines from
// different workers must never be spliced together in the log, so the unfinished end of
// each read waits here until its newline comes. Pure: no I/O; unit-tested.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::master {

class LineJoiner {
 public:
  // A line longer than this is cut into pieces, each ended with a newline, rather than
  // buffered without limit.
  static constexpr std::size_t kMaxLine = 64 * 1024;

  // Appends to `out` every line that `data` completes, starting with the unfinished line
  // kept from earlier calls, and keeps the new unfinished end for the next call.
  void feed(std::string_view data, std::string& out);

  // End of the stream: appends the unfinished end, if any, as a last line.
  void finish(std::string& out);

  bool has_partial() const { return !partial_.empty(); }

 private:
  std::string partial_;
};

// The last `limit` bytes or so of a worker's output, cut at a line start: what the worker
// printed before it failed to load its app, to repeat on the terminal.
class RecentOutput {
 public:
  explicit RecentOutput(std::size_t limit) : limit_(limit) {}
  void add(std::string_view lines);
  const std::string& text() const { return text_; }

 private:
  std::size_t limit_;
  std::string text_;
};

// What the master does when its log cannot be written (a full disk, a quota, an I/O
// error), as a pure policy; master/log_collector.hpp's LogFile does the writes. Lines that
// cannot be written are dropped and counted, not kept: serving goes on, and a master that
// held them would grow without limit while the disk stays full. The first failure is said
// once on stderr, not per line; every later write tries again, and the first one that
// works is preceded by a line saying how many were lost.
class LogOutage {
 public:
  // A write failed with `error` and `lines` lines were lost. True if this starts an
  // outage, which the caller then reports.
  bool on_failure(int error, std::uint64_t lines);
  // The log took the note saying what was lost: the outage is over.
  void on_resumed();
  bool active() const { return error_ != 0; }
  int error() const { return error_; }  // the first failure's errno, 0 when not active
  std::uint64_t dropped() const { return dropped_; }

 private:
  int error_ = 0;
  std::uint64_t dropped_ = 0;
};

// The lines in a piece of log output that failed to be written: its newlines, and a last
// line cut short counts as one too.
std::uint64_t count_lines(std::string_view text);

// For stderr, once per outage: which file, the error, what happens meanwhile and what to do.
std::string log_outage_notice(std::string_view path, int error);

// Written to the log (and stderr) before the first line that gets through again.
std::string log_resumed_note(std::string_view path, int error, std::uint64_t dropped);

}  // namespace ferry::master
