#include "master/json_log_line.hpp"

#include <ctime>
#include <fmt/format.h>

#include "common/json_text.hpp"

namespace ferry::master {
namespace {

struct OwnLine {
  std::string_view time, source, pid, level, msg;
};

bool digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// "YYYY-MM-DD HH:MM:SS.mmm NAME[PID] LEVEL: MSG", common/logging.cpp's pattern.
bool parse_own_line(std::string_view line, OwnLine& own) {
  constexpr std::size_t kTime = 23;  // 2026-12-07 11:00:00.123
  if (line.size() < kTime + 1 || line[4] != '-' || line[10] != ' ' || line[19] != '.' || line[kTime] != ' ') {
    return false;
  }
  own.time = line.substr(0, kTime);
  auto rest = line.substr(kTime + 1);
  const auto open = rest.find('[');
  const auto close = rest.find("] ");
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return false;
  own.source = rest.substr(0, open);
  own.pid = rest.substr(open + 1, close - open - 1);
  rest.remove_prefix(close + 2);
  const auto colon = rest.find(": ");
  if (!digits(own.pid) || colon == std::string_view::npos || colon == 0 || colon > 8) return false;
  own.level = rest.substr(0, colon);
  own.msg = rest.substr(colon + 2);
  return true;
}

void append_now(std::string& out, std::chrono::system_clock::time_point now) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &local);
  fmt::format_to(std::back_inserter(out), "{}.{:03}", std::string_view(text, n), millis);
}

void append_line(std::string& out, std::string_view line, pid_t pid, std::chrono::system_clock::time_point now) {
  OwnLine own;
  out += "{\"time\":\"";
  if (parse_own_line(line, own)) {
    out += own.time.substr(0, 10);
    out += 'T';
    out += own.time.substr(11);
    out += "\",\"level\":";
    append_json_string(out, own.level);
    out += ",\"source\":";
    append_json_string(out, own.source);
    fmt::format_to(std::back_inserter(out), ",\"pid\":{},\"msg\":", own.pid);
    append_json_string(out, own.msg);
  } else {
    append_now(out, now);
    out += "\",\"level\":\"output\",\"source\":";
    append_json_string(out, pid == 0 ? "master" : "worker");
    fmt::format_to(std::back_inserter(out), ",\"pid\":{},\"msg\":", pid);
    append_json_string(out, line);
  }
  out += "}\n";
}

}  // namespace

void append_json_log_lines(std::string& out, std::string_view lines, pid_t pid,
                           std::chrono::system_clock::time_point now) {
  while (!lines.empty()) {
    const auto newline = lines.find('\n');
    append_line(out, lines.substr(0, newline), pid, now);
    if (newline == std::string_view::npos) break;
    lines.remove_prefix(newline + 1);
  }
}

std::string json_log_lines(std::string_view lines, pid_t pid) {
  std::string out;
  append_json_log_lines(out, lines, pid, std::chrono::system_clock::now());
  return out;
}

}  // namespace ferry::master
