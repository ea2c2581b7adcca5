#pragma once

// ferry's log lines: "2026-11-25 10:37:38.123 master[812] info: ..." written with one
// write(2) per line to a file descriptor. The master owns the log file; a worker's fd 2 is
// a pipe the master reads, so lines from many workers never interleave mid-line.
//
// spdlog is not fork-safe: each process makes its loggers after it is forked, never
// inheriting them (see its maintainers' advice in spdlog's issues).

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/logger.h>

namespace ferry {

// `before_each`, if given, runs before each line is written (the master empties the
// workers' pipes into the log first, so the log keeps the order things happened in).
std::shared_ptr<spdlog::logger> make_fd_logger(const std::string& name, int fd, std::function<void()> before_each = {});

// The same, with each formatted line (newline included) handed to `write` instead: the
// master's log file, which must survive a full disk (master/log_collector.hpp).
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, std::function<void(std::string_view)> write,
                                            std::function<void()> before_each = {});

// Writes all of `data`, retrying on EINTR and short writes. False if the fd is gone.
bool write_fully(int fd, std::string_view data);

// Writes `line` plus a newline in one write(2), for lines outside spdlog's format (the
// request log, and the Python side's notes around a traceback).
void write_line(int fd, std::string_view line);

// Text from a request (a URI, a method, a header) on its way into a log line. A client
// controls it, so a CR or LF in it would end the line and forge the next one, and an ESC
// would drive the terminal of whoever runs `tail -f`. Such bytes (every C0 control and
// DEL), and the backslash that starts an escape, are written as \xHH; everything else,
// UTF-8 included, stays as it is.
struct LogSafe {
  std::string_view text;
};

// True for the bytes LogSafe escapes.
constexpr bool needs_log_escape(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f || byte == '\\';
}

}  // namespace ferry

// `fmt::format("{}", LogSafe{uri})`. A text without anything to escape, the common case,
// is scanned once and copied as a plain string_view would be.
template <>
struct fmt::formatter<ferry::LogSafe> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(ferry::LogSafe value, FormatContext& ctx) const -> decltype(ctx.out()) {
    std::string_view rest = value.text;
    auto out = ctx.out();
    for (;;) {
      std::size_t clean = 0;
      while (clean < rest.size() && !ferry::needs_log_escape(rest[clean])) ++clean;
      if (clean == rest.size()) break;
      out = std::copy(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(clean), out);
      out = fmt::format_to(out, "\\x{:02x}", static_cast<unsigned char>(rest[clean]));
      rest.remove_prefix(clean + 1);
    }
    ctx.advance_to(out);
    return fmt::formatter<std::string_view>::format(rest, ctx);
  }
};
