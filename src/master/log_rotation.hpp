#pragma once

// log-maxsize: when the log file would pass its size limit, the master moves it aside
// (to log-backupname, or PATH.<UTC timestamp>) and goes on in a fresh file at PATH. Pure
// policy, unit-tested; master::LogFile does the rename and reopen. Rotation happens only
// between whole lines: a batch that would cross the limit is cut after its last line that
// still fits, the rest goes to the fresh file, so no line is split across two files.

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace ferry::master {

struct LogRotation {
  std::uint64_t max_bytes = 0;  // 0: never rotate by size
  std::string backup_name;      // log-backupname; empty: PATH.<timestamp>

  bool enabled() const { return max_bytes > 0; }

  // How many bytes of `lines` (whole lines, each ending in a newline) go into a file of
  // `size` bytes before it is rotated: lines.size() when they all fit (no rotation), else
  // the length of the lines that fit. A `fresh` file (just rotated) takes at least one
  // line, even one longer than the limit, so that every line lands somewhere.
  std::size_t fits(std::uint64_t size, std::string_view lines, bool fresh) const;

  // Where the full file goes: backup_name when set (replaced at each rotation, as uWSGI
  // does), else `path.YYYYMMDD-HHMMSS` in UTC, which sorts by age; `attempt` > 0, for when
  // that name is taken (two rotations in one second), appends ".001", ".002"...
  std::string backup_path(const std::string& path, std::time_t now, int attempt) const;
};

// Why the log could not be reopened (`what`, from open_log), with the fix when ferry runs
// unprivileged; for the master's logger, so no newline. The two below are whole lines
// that LogFile writes itself.
std::string log_reopen_failure(std::string_view what, int error, unsigned euid);
// The rename that failed, with its errno, and what to do.
std::string log_rotate_failure(std::string_view path, std::string_view backup, int error, unsigned euid);
// The first line of the fresh file: where the lines before it are (empty `backup`: the
// full file had been moved away already, e.g. by logrotate without a SIGUSR1).
std::string log_rotated_note(std::uint64_t max_bytes, std::string_view backup);

}  // namespace ferry::master
