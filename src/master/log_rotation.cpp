#include "master/log_rotation.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace ferry::master {

std::size_t LogRotation::fits(std::uint64_t size, std::string_view lines, bool fresh) const {
  if (!enabled() || size + lines.size() <= max_bytes) return lines.size();
  const std::uint64_t room = size < max_bytes ? max_bytes - size : 0;
  // The end of the last line that ends within the room.
  std::size_t cut = 0;
  if (room > 0) {
    const auto newline = lines.rfind('\n', static_cast<std::size_t>(room) - 1);
    if (newline != std::string_view::npos) cut = newline + 1;
  }
  if (cut == 0 && (fresh || size == 0)) {
    const auto newline = lines.find('\n');
    cut = newline == std::string_view::npos ? lines.size() : newline + 1;
  }
  return cut;
}

std::string LogRotation::backup_path(const std::string& path, std::time_t now, int attempt) const {
  if (!backup_name.empty()) return backup_name;
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::string name = fmt::format("{}.{:04}{:02}{:02}-{:02}{:02}{:02}", path, utc.tm_year + 1900, utc.tm_mon + 1,
                                 utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  if (attempt > 0) name += fmt::format(".{:03}", attempt);
  return name;
}

namespace {

std::string unprivileged_hint(int error, unsigned euid) {
  if (euid == 0 || (error != EACCES && error != EPERM)) return {};
  return fmt::format(
      "; ferry runs as uid {} since dropping privileges, so the log's directory must be writable by that user "
      "(or have logrotate create the new file for it: 'create 0640 USER GROUP', then SIGUSR1)",
      euid);
}

}  // namespace

std::string log_reopen_failure(std::string_view what, int error, unsigned euid) {
  return fmt::format("could not reopen the log: {}{}; still writing to the old file", what,
                     unprivileged_hint(error, euid));
}

std::string log_rotate_failure(std::string_view path, std::string_view backup, int error, unsigned euid) {
  return fmt::format(
      "ferry: log-maxsize: could not rotate the log: rename {} to {}: {}{}; still writing to {} (said once; "
      "each later batch tries again)\n",
      path, backup, std::strerror(error), unprivileged_hint(error, euid), path);
}

std::string log_rotated_note(std::uint64_t max_bytes, std::string_view backup) {
  if (backup.empty()) {
    return fmt::format("ferry: log reopened at log-maxsize = {}; the lines before this are in the file moved away\n",
                       max_bytes);
  }
  return fmt::format("ferry: log rotated at log-maxsize = {}; the lines before this are in {}\n", max_bytes, backup);
}

}  // namespace ferry::master
