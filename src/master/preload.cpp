#include "master/preload.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "common/import_priority.hpp"
#include "common/logging.hpp"
#include "master/startup_error.hpp"
#include "wsgi/app.hpp"

namespace ferry::master {

Preloaded::Preloaded() = default;
Preloaded::Preloaded(Preloaded&&) noexcept = default;
Preloaded& Preloaded::operator=(Preloaded&&) noexcept = default;
Preloaded::~Preloaded() = default;

Preloaded preload_app(const config::Config& config, int log_fd, const std::vector<Listener>& listeners,
                      bool reloading) {
  Preloaded out;
  // The workers get their own pipes at fork; sys.stdout and sys.stderr write to fds 1 and 2.
  UniqueFd terminal;
  if (!config.logfile.empty() && !config.daemonize) {
    terminal.reset(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
  }
  for (const auto& [key, value] : config.env) ::setenv(key.c_str(), value.c_str(), 1);
  // Import from the app's directory, as a worker does; the master itself goes back, so its
  // relative paths (log, pidfile, sockets, touch files) keep meaning what they meant.
  UniqueFd original_cwd(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!config.chdir.empty() && ::chdir(config.chdir.c_str()) != 0) {
    throw StartupError(fmt::format("chdir = {}: {}; fix the path", config.chdir, std::strerror(errno)));
  }
  {
    const ImportPriority priority(reloading);
    out.app = wsgi::App::load(config, wsgi::WorkerInfo::for_worker(config, 0), /*preload=*/true);
  }
  if (out.app) out.app->begin_serving();
  if (original_cwd) [[maybe_unused]]
    auto ignored = ::fchdir(original_cwd.get());
  if (!out.app) {
    if (terminal) {
      write_fully(terminal.get(), fmt::format("ferry: the app failed to import in the master (preload); the "
                                              "traceback is in {}\n",
                                              config.logfile));
    }
    return out;
  }
  std::vector<int> numbers;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    numbers.push_back(std::atoi(entry.path().filename().c_str()));
  }
  for (int fd : numbers) {
    if (fd <= STDERR_FILENO || fd == log_fd || fd == original_cwd.get() || ::fcntl(fd, F_GETFD) < 0) continue;
    if (std::any_of(listeners.begin(), listeners.end(), [fd](const Listener& l) { return l.fd.get() == fd; })) continue;
    out.python_fds.push_back(fd);
  }
  return out;
}

}  // namespace ferry::master
