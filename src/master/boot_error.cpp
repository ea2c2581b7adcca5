#include "master/boot_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include "common/exit_codes.hpp"

namespace ferry::master {
namespace {

// The markers below are what src/wsgi/app.cpp (App::load) and CPython print; the worker's
// own log lines look like "2026-11-25 10:37:38.123 worker1[812] error: chdir = ...".
constexpr std::string_view kFerryPrefix = "ferry: ";
constexpr std::string_view kTracebackFollows = "failed to load; the Python traceback follows:";
constexpr std::string_view kFixHint = "ferry: fix the error above";
constexpr std::string_view kTraceback = "Traceback (most recent call last):";
constexpr std::string_view kErrorLevels[] = {"] error: ", "] critical: "};

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

bool blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }
bool indented(std::string_view line) { return !line.empty() && (line[0] == ' ' || line[0] == '\t'); }

// "ValueError: a", "myapp.BootError: ...", "KeyboardInterrupt": a dotted name, then ':' or
// nothing (a frame's "File ..." or a code line has a space first).
bool names_an_exception(std::string_view text) {
  if (text.empty() || !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_')) return false;
  const auto end = text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.");
  return end == std::string_view::npos || text[end] == ':';
}

// "error: chdir = /nope: ..." logged by the worker, or "ferry: cannot set up ...".
std::optional<std::string_view> error_text(std::string_view line) {
  for (auto level : kErrorLevels) {
    if (const auto at = line.find(level); at != std::string_view::npos) return line.substr(at + level.size());
  }
  if (line.starts_with(kFerryPrefix)) return line.substr(kFerryPrefix.size());
  return std::nullopt;
}

std::string last_error_line(const std::vector<std::string_view>& lines, std::size_t end) {
  for (std::size_t i = end; i-- > 0;) {
    if (auto text = error_text(lines[i]); text && !blank(*text)) return std::string(*text);
  }
  for (std::size_t i = end; i-- > 0;) {
    if (!blank(lines[i])) return std::string(lines[i]);
  }
  return "";
}

// Between "the app (...) failed to load; the Python traceback follows:" and the hint after
// it: the exception line follows the last traceback's indented frames (chained exceptions
// print several tracebacks; the last one is what was raised). An exception raised with no
// Python frame (a missing top-level module) is printed without a traceback at all.
std::string exception_line(const std::vector<std::string_view>& lines, std::size_t begin, std::size_t end) {
  std::size_t at = begin;
  for (std::size_t i = begin; i < end; ++i) {
    if (lines[i] == kTraceback) at = i + 1;
  }
  while (at < end && (indented(lines[at]) || blank(lines[at]))) ++at;
  if (at == end) {
    // Nothing unindented: an exception group prints every line behind "  | "; its own line
    // is the first that reads like one.
    for (std::size_t i = begin; i < end; ++i) {
      std::string_view text = lines[i];
      text.remove_prefix(std::min(text.size(), text.find_first_not_of(" \t|+")));
      if (names_an_exception(text)) return std::string(text);
    }
    return "";
  }
  std::size_t more = 0;  // a message of several lines: the rest of it
  for (std::size_t i = at + 1; i < end; ++i) more += blank(lines[i]) ? 0 : 1;
  if (more == 0) return std::string(lines[at]);
  return fmt::format("{} (+{} more line{} in the log)", lines[at], more, more == 1 ? "" : "s");
}

std::string app_load_error(const std::vector<std::string_view>& lines) {
  std::optional<std::size_t> hint;
  for (std::size_t i = lines.size(); i-- > 0;) {
    if (lines[i].starts_with(kFixHint)) {
      hint = i;
      break;
    }
  }
  if (hint) {
    for (std::size_t i = *hint; i-- > 0;) {
      if (lines[i].starts_with(kFerryPrefix) && lines[i].ends_with(kTracebackFollows)) {
        if (auto quote = exception_line(lines, i + 1, *hint); !quote.empty()) return quote;
        break;
      }
    }
  }
  return last_error_line(lines, hint.value_or(lines.size()));
}

}  // namespace

std::string quote_boot_failure(std::string_view output, int exit_code) {
  const auto lines = split_lines(output);
  return exit_code == kExitAppLoad ? app_load_error(lines) : last_error_line(lines, lines.size());
}

}  // namespace ferry::master
