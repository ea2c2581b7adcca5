#include "master/preload.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "common/exit_codes.hpp"
#include "common/import_priority.hpp"
#include "common/logging.hpp"
#include "master/boot_error.hpp"
#include "master/startup_error.hpp"
#include "wsgi/app.hpp"

namespace ferry::master {

Preloaded::Preloaded() = default;
Preloaded::Preloaded(Preloaded&&) noexcept = default;
Preloaded& Preloaded::operator=(Preloaded&&) noexcept = default;
Preloaded::~Preloaded() = default;

namespace {

// What the import writes to fds 1 and 2 is held in a memfd and passed on once it is done,
// so that the exception line can be quoted from it (a worker's output reaches the master
// through its pipe instead). The app's output during a slow import thus shows up at its end.
class OutputCapture {
 public:
  OutputCapture() : file_(::memfd_create("ferry-preload-output", MFD_CLOEXEC)) {
    if (!file_) return;  // then the import writes where it always did, and nothing is quoted
    saved_out_.reset(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3));
    saved_err_.reset(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
    ::dup2(file_.get(), STDOUT_FILENO);
    ::dup2(file_.get(), STDERR_FILENO);
  }
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;
  ~OutputCapture() { finish(); }

  // Puts fds 1 and 2 back, writes what was captured to fd 2 and returns it.
  std::string finish() {
    if (!file_) return "";
    ::dup2(saved_out_.get(), STDOUT_FILENO);
    ::dup2(saved_err_.get(), STDERR_FILENO);
    std::string text;
    char buffer[16 * 1024];
    ssize_t n;
    off_t at = 0;
    while ((n = ::pread(file_.get(), buffer, sizeof buffer, at)) > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
      at += n;
    }
    write_fully(STDERR_FILENO, text);
    file_.reset();
    return text;
  }

 private:
  UniqueFd file_, saved_out_, saved_err_;
};

}  // namespace

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
    OutputCapture capture;
    out.app = wsgi::App::load(config, wsgi::WorkerInfo::for_worker(config, 0), /*preload=*/true);
    const std::string output = capture.finish();
    if (!out.app) out.error = quote_boot_failure(output, kExitAppLoad);
  }
  if (out.app) out.app->begin_serving();
  if (original_cwd) [[maybe_unused]]
    auto ignored = ::fchdir(original_cwd.get());
  if (!out.app) {
    if (terminal) {
      write_fully(terminal.get(), fmt::format("ferry: the app failed to import in the master (preload){}{}; the "
                                              "traceback is in {}\n",
                                              out.error.empty() ? "" : ": ", out.error, config.logfile));
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

Preloaded preload_in_master(const config::Config& config, int log_fd, const std::vector<Listener>& listeners,
                            bool reloading) {
  Preloaded out;
  try {
    out = preload_app(config, log_fd, listeners, reloading);
  } catch (const StartupError& e) {
    if (!reloading) throw;
    write_fully(log_fd, fmt::format("ferry: {}\n", e.what()));
    return out;
  }
  // A re-executed master says so in its "reload failed" line (Supervisor::start_adopting).
  if (!out.app && !reloading) {
    write_fully(log_fd, fmt::format("ferry: the app could not be imported in the master (preload){}{}; stopping "
                                    "ferry\n",
                                    out.error.empty() ? "" : ": ", out.error));
  }
  return out;
}

}  // namespace ferry::master
