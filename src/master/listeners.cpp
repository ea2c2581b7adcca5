#include "master/listeners.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fstream>

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

// A socket file left by a ferry or uWSGI that died without vacuum is stale: nobody
// accepts on it. One that answers belongs to a running server, which we must not steal.
void clear_stale_unix_socket(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) {
    throw StartupError(
        fmt::format("socket {}: the path exists and is not a socket; remove it or "
                    "choose another path",
                    path));
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    throw StartupError(
        fmt::format("socket {}: another server is listening on it; stop it first or "
                    "choose another path",
                    path));
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
  clear_stale_unix_socket(path);
  Listener listener;
  listener.address = path;
  listener.is_unix = true;
  listener.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(listener.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw StartupError(
        fmt::format("cannot bind socket {}: {} (does its directory exist and is it "
                    "writable?)",
                    path, errno_text(errno)));
  }
  if (config.chmod_socket && ::chmod(path.c_str(), *config.chmod_socket) != 0) {
    throw StartupError(fmt::format("chmod-socket {:o} on {}: {}", *config.chmod_socket, path, errno_text(errno)));
  }
  if ((owner.uid || owner.gid) && ::chown(path.c_str(), owner.uid.value_or(static_cast<uid_t>(-1)),
                                          owner.gid.value_or(static_cast<gid_t>(-1))) != 0) {
    throw StartupError(fmt::format("chown-socket {} on {}: {}", config.chown_socket, path, errno_text(errno)));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    listener.device = st.st_dev;
    listener.inode = st.st_ino;
  }
  if (::listen(listener.fd.get(), backlog) != 0) {
    throw StartupError(fmt::format("listen on {}: {}", path, errno_text(errno)));
  }
  return listener;
}

Listener open_tcp(const config::SocketOption& option, int backlog) {
  const std::string& address = option.address;
  const auto colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
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
  const int bound = ::bind(listener.fd.get(), found->ai_addr, found->ai_addrlen);
  const int bind_error = errno;
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

void vacuum_listeners(const std::vector<Listener>& listeners) {
  for (const auto& listener : listeners) {
    if (!listener.is_unix) continue;
    struct stat st {};
    if (::lstat(listener.address.c_str(), &st) == 0 && st.st_dev == listener.device && st.st_ino == listener.inode) {
      ::unlink(listener.address.c_str());
    }
  }
}

}  // namespace ferry::master
