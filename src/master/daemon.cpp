#include "master/daemon.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "common/exit_codes.hpp"
#include "master/startup_error.hpp"

namespace ferry::master {

UniqueFd open_log(const std::string& path) {
  if (path.empty()) return UniqueFd(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    throw StartupError(
        fmt::format("cannot open the log file {}: {} (check the directory and permissions "
                    "of logger/logto/daemonize)",
                    path, std::strerror(errno)));
  }
  return fd;
}

void daemonize(int log_fd) {
  const pid_t pid = ::fork();
  if (pid < 0) throw StartupError(fmt::format("daemonize: fork failed: {}", std::strerror(errno)));
  if (pid > 0) ::_exit(kExitOk);
  ::setsid();
  const int null = ::open("/dev/null", O_RDONLY);
  ::dup2(null, STDIN_FILENO);
  ::close(null);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
}

}  // namespace ferry::master
