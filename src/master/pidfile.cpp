#include "master/pidfile.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>

#include "master/startup_error.hpp"

namespace ferry::master {

pid_t read_pidfile(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  return (in >> pid) && pid > 0 ? static_cast<pid_t>(pid) : 0;
}

void Pidfile::check_free(const std::string& path) {
  const pid_t pid = read_pidfile(path);
  if (pid > 0 && pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM)) {
    throw StartupError(
        fmt::format("pidfile {} names pid {}, which is running: is ferry already "
                    "started? Stop it (ferry --stop {}) or choose another pidfile",
                    path, pid, path));
  }
}

void Pidfile::write(const std::string& path, pid_t pid) {
  check_free(path);
  // Write a temporary file and rename it, so a reader never sees a half-written pid.
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << pid << '\n';
    if (!out.flush()) {
      throw StartupError(fmt::format("cannot write pidfile {}: {}", path, std::strerror(errno)));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    throw StartupError(fmt::format("cannot write pidfile {}: {}", path, std::strerror(errno)));
  }
  path_ = path;
  pid_ = pid;
}

void Pidfile::remove_if_ours() const {
  if (!path_.empty() && read_pidfile(path_) == pid_) ::unlink(path_.c_str());
}

}  // namespace ferry::master
