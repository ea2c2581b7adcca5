#pragma once

// Turns the byte stream of a worker's output pipe into whole lines. A worker's writes can
// end mid-line (a print without a newline, a traceback cut by a full pipe), and lines from
// different workers must never be spliced together in the log, so the unfinished end of
// each read waits here until its newline comes. Pure: no I/O; unit-tested.

#include <cstddef>
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

}  // namespace ferry::master
