#include "master/log_lines.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace ferry::master {

void LineJoiner::feed(std::string_view data, std::string& out) {
  const auto last_newline = data.rfind('\n');
  if (last_newline != std::string_view::npos) {
    // The common case under load: whole lines, written out without being copied line by line.
    out.append(partial_);
    partial_.clear();
    out.append(data.substr(0, last_newline + 1));
    data.remove_prefix(last_newline + 1);
  }
  while (partial_.size() + data.size() >= kMaxLine) {
    const std::size_t take = kMaxLine - partial_.size();
    out.append(partial_);
    out.append(data.substr(0, take));
    out.push_back('\n');
    partial_.clear();
    data.remove_prefix(take);
  }
  partial_.append(data);
}

void LineJoiner::finish(std::string& out) {
  if (partial_.empty()) return;
  out.append(partial_);
  out.push_back('\n');
  partial_.clear();
}

void RecentOutput::add(std::string_view lines) {
  bool cut = false;
  if (lines.size() >= limit_) {
    text_.clear();
    lines.remove_prefix(lines.size() - limit_);
    cut = true;
  } else if (text_.size() + lines.size() > limit_) {
    text_.erase(0, text_.size() + lines.size() - limit_);
    cut = true;
  }
  text_.append(lines);
  // A line whose start was cut off goes too, unless it is the only one.
  if (cut) {
    const auto newline = text_.find('\n');
    if (newline != std::string::npos && newline + 1 < text_.size()) text_.erase(0, newline + 1);
  }
}

bool LogOutage::on_failure(int error, std::uint64_t lines) {
  dropped_ += lines;
  if (error_ != 0) return false;
  error_ = error != 0 ? error : EIO;  // errno 0 must not read as "no outage"
  return true;
}

void LogOutage::on_resumed() {
  error_ = 0;
  dropped_ = 0;
}

std::uint64_t count_lines(std::string_view text) {
  std::uint64_t lines = 0;
  for (char c : text) lines += c == '\n';
  return lines + (!text.empty() && text.back() != '\n');
}

namespace {

std::string error_text(int error) {
  const char* name = ::strerrorname_np(error);
  return fmt::format("{} ({})", std::strerror(error), name != nullptr ? name : "?");
}

bool is_full(int error) { return error == ENOSPC || error == EDQUOT; }

std::string_view display(std::string_view path) { return path.empty() ? std::string_view("stderr") : path; }

}  // namespace

std::string log_outage_notice(std::string_view path, int error) {
  std::string_view fix = "check the file and the device it is on";
  if (error == ENOSPC) fix = "free space on its filesystem (df shows which one)";
  if (error == EDQUOT) fix = "raise the quota of the user ferry runs as, or free some of its files";
  if (error == EFBIG) fix = "rotate it (logrotate, then SIGUSR1) or raise the file size limit (ulimit -f)";
  if (error == EIO) fix = "check the disk (dmesg)";
  return fmt::format(
      "ferry: cannot write the log {}: {}. Serving goes on; log lines are dropped and counted until the log can "
      "be written again (tried at each new line). To fix it, {}.\n",
      display(path), error_text(error), fix);
}

std::string log_resumed_note(std::string_view path, int error, std::uint64_t dropped) {
  return fmt::format("ferry: {} log line{} dropped while {} {} ({}); logging resumes\n", dropped,
                     dropped == 1 ? "" : "s", display(path), is_full(error) ? "was full" : "could not be written",
                     error_text(error));
}

}  // namespace ferry::master
