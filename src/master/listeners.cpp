#include "master/listeners.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <thread>

#include "common/logging.hpp"
#include "config/socket_address.hpp"
#include "master/pidfile.hpp"
#include "master/privileges.hpp"
#include "master/startup_error.hpp"

namespace ferry::master {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

int kernel_somaxconn() {
  std::ifstream in("/proc/sys/net/core/somaxconn");
  int value = 0;
  return (in >> value) ? value : 4096;
}

int backlog_for(const config::Config& config, config::Warnings& warnings) {
  const int somaxconn = kernel_somaxconn();
  if (config.listen == 0) return std::min(somaxconn, config::kDefaultListen);
  if (config.listen > somaxconn) {
    warnings.push_back(
        fmt::format("listen = {} is above the kernel's limit net.core.somaxconn = {}, which silently caps it; "
                    "raise it with: sysctl -w net.core.somaxconn={}",
                    config.listen, somaxconn, config.listen));
  }
  return config.listen;
}

// How long a socket that still answers may take to stop: the workers of a master that was
// just killed outright get their death signal at once (PR_SET_PDEATHSIG), but hold the
// listening socket until they have exited, a matter of milliseconds (measured: 3-5 ms for
// idle workers). A new ferry started at once (systemd's Restart=) waits that out instead of
// taking them for a running server.
constexpr auto kSocketReleaseWait = std::chrono::seconds(2);

// The pidfile names a master that is dead: what still holds our sockets is likely its
// orphaned workers on their way out, worth waiting for.
bool previous_master_died(const config::Config& config) {
  if (config.pidfile.empty()) return false;
  const pid_t pid = read_pidfile(config.pidfile);
  return pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
}

bool someone_listens(const std::string& path) {
  // Non-blocking: a listener whose backlog is full makes connect() wait, not fail.
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno == EAGAIN;
}

// A socket file left by a ferry or uWSGI that died without vacuum is stale: nobody
// accepts on it. One that answers belongs to a running server, which we must not steal.
// The path itself is looked at (lstat), never what a link at it points to.
// `patient`: the previous master died, so an answer may come from its exiting workers; each
// probe is an empty connection to whoever listens, so only then is it repeated.
void clear_stale_unix_socket(const std::string& path, bool patient) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISLNK(st.st_mode)) {
    std::error_code error;
    const auto target = std::filesystem::read_symlink(path, error).string();
    throw StartupError(
        fmt::format("socket {}: the path is a symbolic link (to {}); ferry binds its sockets only at a path of "
                    "its own and does not follow links there. Remove the link (rm {}) or choose another path",
                    path, LogSafe{target}, path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw StartupError(
        fmt::format("socket {}: the path exists and is not a socket; remove it or "
                    "choose another path",
                    path));
  }
  const auto give_up = std::chrono::steady_clock::now() + (patient ? kSocketReleaseWait : std::chrono::seconds(0));
  while (someone_listens(path)) {
    if (std::chrono::steady_clock::now() >= give_up) {
      throw StartupError(
          fmt::format("socket {}: another server is listening on it; stop it first or "
                      "choose another path (if a ferry was just killed, its workers may still be "
                      "finishing requests)",
                      path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::unlink(path.c_str());
}

Listener open_unix(const config::SocketOption& option, const config::Config& config, const Identity& owner,
                   int backlog) {
  const std::string& path = option.address;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    throw StartupError(
        fmt::format("{}: socket path '{}' is {} bytes; Unix socket paths must be "
                    "shorter than {}",
                    option.where.describe(), path, path.size(), sizeof addr.sun_path));
  }
  clear_stale_unix_socket(path, previous_master_died(config));
  Listener listener;
  listener.address = path;
  listener.is_unix = true;
  listener.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // chmod-socket through the umask at bind(), not chmod(path) after it: by then the path
  // could be a link someone put there, and chmod would follow it. (The master has no
  // other threads yet, so the process-wide umask is ours for the moment.)
  const mode_t umask_before = config.chmod_socket ? ::umask(0777 & ~*config.chmod_socket) : 0;
  const int bound = ::bind(listener.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int bind_error = errno;
  if (config.chmod_socket) ::umask(umask_before);
  if (bound != 0) {
    throw StartupError(
        fmt::format("cannot bind socket {}: {} (does its directory exist and is it "
                    "writable?)",
                    path, errno_text(bind_error)));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    throw StartupError(
        fmt::format("socket {}: the path was replaced as ferry bound it; check who else writes there", path));
  }
  listener.device = st.st_dev;
  listener.inode = st.st_ino;
  if ((owner.uid || owner.gid) && ::fchownat(AT_FDCWD, path.c_str(), owner.uid.value_or(static_cast<uid_t>(-1)),
                                             owner.gid.value_or(static_cast<gid_t>(-1)), AT_SYMLINK_NOFOLLOW) != 0) {
    throw StartupError(fmt::format("chown-socket {} on {}: {}", config.chown_socket, path, errno_text(errno)));
  }
  if (::listen(listener.fd.get(), backlog) != 0) {
    throw StartupError(fmt::format("listen on {}: {}", path, errno_text(errno)));
  }
  return listener;
}

Listener open_tcp(const config::SocketOption& option, int backlog) {
  const std::string& address = option.address;
  const auto [host, port] = config::split_host_port(address);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = host.empty() ? AF_INET : AF_UNSPEC;  // ":8000" means every IPv4 interface, as in uWSGI
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw StartupError(fmt::format("{}: socket '{}': cannot resolve '{}' port '{}': {}", option.where.describe(),
                                   address, host, port, gai_strerror(rc)));
  }
  Listener listener;
  listener.address = address;
  listener.fd.reset(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const int one = 1;
  ::setsockopt(listener.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // EADDRINUSE can be the workers of a ferry killed a moment ago, on their way out (see
  // kSocketReleaseWait): wait for them before calling it another server.
  const auto give_up = std::chrono::steady_clock::now() + kSocketReleaseWait;
  int bound = -1, bind_error = 0;
  while ((bound = ::bind(listener.fd.get(), found->ai_addr, found->ai_addrlen)) != 0 &&
         (bind_error = errno) == EADDRINUSE && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (bound == 0) bind_error = 0;
  ::freeaddrinfo(found);
  if (bound != 0) {
    throw StartupError(fmt::format("cannot bind socket {}: {}{}", address, errno_text(bind_error),
                                   bind_error == EADDRINUSE ? " (another server uses this port)" : ""));
  }
  if (::listen(listener.fd.get(), backlog) != 0) {
    throw StartupError(fmt::format("listen on {}: {}", address, errno_text(errno)));
  }
  return listener;
}

// The listening sockets systemd passed (socket activation: LISTEN_PID/LISTEN_FDS, fds
// from 3), keyed by what they are bound to: a Unix path, or ":port" for TCP.
std::vector<std::pair<std::string, int>> activated_sockets() {
  std::vector<std::pair<std::string, int>> found;
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr || std::atol(pid) != static_cast<long>(::getpid())) return found;
  const int count = std::atoi(fds);
  // Workers and the app must not take these variables for their own.
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  for (int fd = 3; fd < 3 + count; ++fd) {
    sockaddr_storage addr{};
    socklen_t length = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) continue;
    std::string key;
    if (addr.ss_family == AF_UNIX) {
      key = reinterpret_cast<sockaddr_un*>(&addr)->sun_path;
    } else if (addr.ss_family == AF_INET) {
      key = ":" + std::to_string(ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port));
    } else if (addr.ss_family == AF_INET6) {
      key = ":" + std::to_string(ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port));
    }
    found.emplace_back(key, fd);
  }
  return found;
}

std::string activation_key(const std::string& address) {
  if (is_unix_address(address)) return address;
  return address.substr(address.rfind(':'));
}

}  // namespace

bool is_unix_address(const std::string& address) {
  return address.find('/') != std::string::npos || address.find(':') == std::string::npos;
}

std::vector<Listener> open_listeners(const config::Config& config, config::Warnings& warnings) {
  const int backlog = backlog_for(config, warnings);
  auto activated = activated_sockets();
  const Identity owner = config.chown_socket.empty() ? Identity{} : resolve_owner(config.chown_socket);
  std::vector<Listener> listeners;
  for (const auto& option : config.sockets) {
    const auto key = activation_key(option.address);
    auto it = std::find_if(activated.begin(), activated.end(), [&](const auto& a) { return a.first == key; });
    if (it != activated.end()) {
      // systemd owns this socket: keep it across restarts, never vacuum it (inode 0).
      Listener listener;
      listener.address = option.address;
      listener.is_unix = is_unix_address(option.address);
      listener.fd.reset(it->second);
      ::fcntl(it->second, F_SETFD, FD_CLOEXEC);
      ::fcntl(it->second, F_SETFL, ::fcntl(it->second, F_GETFL) | O_NONBLOCK);
      activated.erase(it);
      listener.http = option.http;
      listener.activated = true;
      listeners.push_back(std::move(listener));
      continue;
    }
    listeners.push_back(is_unix_address(option.address) ? open_unix(option, config, owner, backlog)
                                                        : open_tcp(option, backlog));
    listeners.back().http = option.http;
  }
  for (const auto& [key, fd] : activated) {
    warnings.push_back(
        fmt::format("systemd passed a socket bound to '{}' that no 'socket' option names; "
                    "closing it (add 'socket = {}' to serve on it)",
                    key, key));
    ::close(fd);
  }
  return listeners;
}

std::optional<Listener> open_stats_listener(const config::Config& config) {
  if (!config.stats) return std::nullopt;
  // A handful of monitoring clients at a time: uWSGI's default backlog is plenty.
  constexpr int kStatsBacklog = 100;
  const auto& option = *config.stats;
  if (!is_unix_address(option.address)) return open_tcp(option, kStatsBacklog);
  const Identity owner = config.chown_socket.empty() ? Identity{} : resolve_owner(config.chown_socket);
  return open_unix(option, config, owner, kStatsBacklog);
}

void stop_listening(const std::vector<Listener>& listeners, bool uwsgi_too) {
  // shutdown() acts on the socket, not on this descriptor: it leaves the listening state
  // (TCP: new connections get a reset, i.e. "connection refused"; Unix: connect() fails
  // with ECONNREFUSED), and the workers' copies wake up with nothing to accept. close()
  // here would not do it, since every worker holds a copy.
  for (const auto& listener : listeners) {
    if (!listener.activated && (listener.http || uwsgi_too)) ::shutdown(listener.fd.get(), SHUT_RD);
  }
}

void vacuum_listener(const Listener& listener) {
  if (!listener.is_unix) return;
  struct stat st {};
  if (::lstat(listener.address.c_str(), &st) == 0 && st.st_dev == listener.device && st.st_ino == listener.inode) {
    ::unlink(listener.address.c_str());
  }
}

void vacuum_listeners(const std::vector<Listener>& listeners) {
  for (const auto& listener : listeners) vacuum_listener(listener);
}

}  // namespace ferry::master
