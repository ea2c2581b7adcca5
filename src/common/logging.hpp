#pragma once

// ferry's log lines: "2026-11-25 10:37:38.123 master[812] info: ..." written with one
// write(2) per line to a file descriptor. The master owns the log file; a worker's fd 2 is
// a pipe the master reads, so lines from many workers never interleave mid-line.
//
// spdlog is not fork-safe: each process makes its loggers after it is forked, never
// inheriting them (see its maintainers' advice in spdlog's issues).

#include <algorithm>
#include <functional>
#include <iterator>
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

// Copies `text` to `out` with the bytes needs_log_escape() names written as \xNN. A text
// without any, the common case, is scanned once and copied whole. Returns the text's clean
// tail, which the caller copies (so fmt's formatter can apply its format spec to it).
template <typename Out>
std::string_view copy_log_safe_head(std::string_view text, Out& out) {
  constexpr char kHex[] = "0123456789abcdef";
  for (;;) {
    std::size_t clean = 0;
    while (clean < text.size() && !needs_log_escape(text[clean])) ++clean;
    if (clean == text.size()) return text;
    const auto byte = static_cast<unsigned char>(text[clean]);
    const char escaped[] = {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
    out = std::copy(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(clean), out);
    out = std::copy(std::begin(escaped), std::end(escaped), out);
    text.remove_prefix(clean + 1);
  }
}

// Appends what the client sent, escaped as LogSafe prints it, without going through fmt.
inline void append_log_safe(std::string& out, std::string_view text) {
  auto appender = std::back_inserter(out);
  const auto tail = copy_log_safe_head(text, appender);
  out.append(tail);
}

}  // namespace ferry

// `fmt::format("{}", LogSafe{uri})`. A text without anything to escape, the common case,
// is scanned once and copied as a plain string_view would be.
template <>
struct fmt::formatter<ferry::LogSafe> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(ferry::LogSafe value, FormatContext& ctx) const -> decltype(ctx.out()) {
    auto out = ctx.out();
    const auto tail = ferry::copy_log_safe_head(value.text, out);
    ctx.advance_to(out);
    return fmt::formatter<std::string_view>::format(tail, ctx);
  }
};
