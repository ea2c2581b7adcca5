#pragma once

#include <sys/types.h>

#include <string>

namespace ferry::master {

// The master's pidfile. Refuses to start over a live ferry's pidfile, replaces a stale one,
// and on exit removes the file only if it is still the one it wrote, holding its pid.
//
// The path is never followed: a symbolic link (or anything else that is not a regular
// file) at it is refused, since writing through it would let whoever made the link pick
// the file ferry, often running as root, truncates. The file is written beside it under a
// fresh name (O_EXCL) and renamed into place, so a reader never sees half a pid.
class Pidfile {
 public:
  Pidfile() = default;
  // Throws StartupError if another live ferry owns `path`, or if `path` is a symbolic
  // link or not a regular file.
  static void check_free(const std::string& path);
  void write(const std::string& path, pid_t pid);
  // Takes over a pidfile that already holds `pid` (after a re-exec, as the same process).
  void adopt(const std::string& path, pid_t pid);
  void remove_if_ours() const;

 private:
  std::string path_;
  pid_t pid_ = 0;
  // The file written (or adopted); vacuum removes the path only while it is this one.
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

// The pid a pidfile names, or 0 if it cannot be read (or is not a regular file).
pid_t read_pidfile(const std::string& path);

}  // namespace ferry::master
