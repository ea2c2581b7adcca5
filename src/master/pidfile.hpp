#pragma once

#include <sys/types.h>

#include <string>

namespace ferry::master {

// The master's pidfile. Refuses to start over a live ferry's pidfile, replaces a stale one,
// and on exit removes the file only if it still holds our pid.
class Pidfile {
 public:
  Pidfile() = default;
  // Throws StartupError if another live process owns `path`.
  static void check_free(const std::string& path);
  void write(const std::string& path, pid_t pid);
  // Takes over a pidfile that already holds `pid` (after a re-exec, as the same process).
  void adopt(const std::string& path, pid_t pid) {
    path_ = path;
    pid_ = pid;
  }
  void remove_if_ours() const;

 private:
  std::string path_;
  pid_t pid_ = 0;
};

// The pid a pidfile names, or 0 if it cannot be read.
pid_t read_pidfile(const std::string& path);

}  // namespace ferry::master
