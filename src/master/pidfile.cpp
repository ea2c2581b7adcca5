#include "master/pidfile.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "common/logging.hpp"
#include "common/unique_fd.hpp"
#include "master/startup_error.hpp"

namespace ferry::master {
namespace {

std::string_view kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// The pid in the regular file at `path`, not following a link; 0 if there is none.
pid_t read_pid_nofollow(const std::string& path, struct stat* st = nullptr) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat own {};
  if (!fd || ::fstat(fd.get(), &own) != 0 || !S_ISREG(own.st_mode)) return 0;
  if (st != nullptr) *st = own;
  char text[32];
  const ssize_t n = ::read(fd.get(), text, sizeof text - 1);
  if (n <= 0) return 0;
  long pid = 0;
  const auto [end, error] = std::from_chars(text, text + n, pid);
  return error == std::errc() && pid > 0 && pid < (1L << 30) ? static_cast<pid_t>(pid) : 0;
}

// What runs as `pid`, from /proc; empty if that cannot be read (another user's process
// without the right to look).
std::string executable_of(pid_t pid) {
  std::error_code error;
  std::string exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", pid), error).string();
  const std::string_view deleted = " (deleted)";  // an upgraded binary ferry still runs
  if (exe.ends_with(deleted)) exe.resize(exe.size() - deleted.size());
  return exe;
}

bool looks_like_ferry(const std::string& exe) {
  if (exe.empty()) return true;  // cannot tell: assume it is, and refuse rather than steal
  if (exe == executable_of(::getpid())) return true;
  return std::filesystem::path(exe).filename().string().find("ferry") != std::string::npos;
}

// Throws for what must not be written over: a link, a directory, a live ferry's file.
// Returns the pid of a live process that is not ferry (the file is stale: its pid was
// reused), else 0.
pid_t check(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;  // nothing there: free
  if (S_ISLNK(st.st_mode)) {
    std::error_code error;
    const auto target = std::filesystem::read_symlink(path, error).string();
    throw StartupError(
        fmt::format("pidfile {} is a symbolic link (to {}); ferry does not write its pidfile through a link, which "
                    "would let whoever made it choose the file ferry overwrites. Remove the link (rm {}) or set "
                    "pidfile to a path of its own",
                    path, LogSafe{target}, path));
  }
  if (!S_ISREG(st.st_mode)) {
    throw StartupError(fmt::format("pidfile {} exists and is {}; remove it or set pidfile to another path", path,
                                   kind_of(st.st_mode)));
  }
  const pid_t pid = read_pid_nofollow(path);
  if (pid <= 0 || pid == ::getpid() || (::kill(pid, 0) != 0 && errno != EPERM)) return 0;
  const std::string exe = executable_of(pid);
  if (!looks_like_ferry(exe)) return pid;
  throw StartupError(
      fmt::format("pidfile {} names pid {}, which is running: is ferry already "
                  "started? Stop it (ferry --stop {}) or choose another pidfile",
                  path, pid, path));
}

}  // namespace

pid_t read_pidfile(const std::string& path) { return read_pid_nofollow(path); }

void Pidfile::check_free(const std::string& path) { check(path); }

void Pidfile::write(const std::string& path, pid_t pid) {
  if (const pid_t other = check(path); other > 0) {
    const std::string note = fmt::format(
        "ferry: pidfile {} names pid {}, which runs {}, not ferry: the file is stale (its pid was "
        "reused); replacing it\n",
        path, other, LogSafe{executable_of(other)});
    write_fully(STDERR_FILENO, note);
  }
  // A fresh name beside it (mkostemp opens with O_EXCL), never a fixed "path.tmp" that
  // someone could have made a link to; then one rename, which replaces whatever is at
  // `path` itself (even a link made meanwhile) without writing through it.
  std::string temp = path + ".XXXXXX";
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  auto fail = [&](int error) {
    if (fd) ::unlink(temp.c_str());
    return StartupError(
        fmt::format("cannot write pidfile {}: {} (does its directory exist, and may ferry write "
                    "there?)",
                    path, std::strerror(error)));
  };
  if (!fd) throw fail(errno);
  // mkostemp makes it 0600; a pidfile is for everyone to read, less what the umask takes.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  const std::string text = fmt::format("{}\n", pid);
  struct stat st {};
  if (::fchmod(fd.get(), 0644 & ~mask) != 0 || !write_fully(fd.get(), text) || ::fstat(fd.get(), &st) != 0) {
    throw fail(errno);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) throw fail(errno);
  path_ = path;
  pid_ = pid;
  device_ = st.st_dev;
  inode_ = st.st_ino;
}

void Pidfile::adopt(const std::string& path, pid_t pid) {
  path_ = path;
  pid_ = pid;
  struct stat st {};
  // The previous incarnation of this master wrote it; if it is not there (or not ours)
  // any more, device_/inode_ stay 0 and vacuum leaves the path alone.
  if (read_pid_nofollow(path, &st) == pid) {
    device_ = st.st_dev;
    inode_ = st.st_ino;
  }
}

void Pidfile::remove_if_ours() const {
  if (path_.empty() || inode_ == 0) return;
  // Still the file we wrote, still naming us: another instance may have replaced it, or
  // rewritten it with its own pid.
  struct stat st {};
  if (read_pid_nofollow(path_, &st) == pid_ && st.st_dev == device_ && st.st_ino == inode_) {
    ::unlink(path_.c_str());
  }
}

}  // namespace ferry::master
