#include "master/reexec.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

namespace ferry::master {

sigset_t master_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGQUIT, SIGCHLD}) sigaddset(&set, sig);
  return set;
}

std::string executable_path() {
  std::error_code error;
  std::string path = std::filesystem::read_symlink("/proc/self/exe", error).string();
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() && path.ends_with(deleted)) path.resize(path.size() - deleted.size());
  if (path.empty() || ::access(path.c_str(), X_OK) != 0) return "/proc/self/exe";
  return path;
}

int exec_with_handover(const Handover& h, const std::string& path, const std::vector<std::string>& arguments) {
  std::vector<int> passed{h.events_read, h.events_write, h.counters_fd};
  for (const auto& s : h.sockets) passed.push_back(s.fd);
  for (const auto& w : h.workers) {
    if (w.output_fd >= 0) passed.push_back(w.output_fd);
    if (w.request_fd >= 0) passed.push_back(w.request_fd);
  }
  for (int fd : passed) ::fcntl(fd, F_SETFD, 0);
  ::setenv(kHandoverVariable, h.encode().c_str(), 1);
  std::vector<std::string> args{"ferry"};
  args.insert(args.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const sigset_t signals = master_signals();
  sigset_t previous;
  ::pthread_sigmask(SIG_BLOCK, &signals, &previous);
  ::execv(path.c_str(), argv.data());
  const int error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::unsetenv(kHandoverVariable);
  ::unsetenv("NOTIFY_SOCKET");
  for (int fd : passed) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return error;
}

std::optional<Handover> take_handover() {
  const char* text = std::getenv(kHandoverVariable);
  if (text == nullptr) return std::nullopt;
  auto handover = Handover::decode(text);
  ::unsetenv(kHandoverVariable);
  if (!handover || handover->pid != ::getpid()) return std::nullopt;
  for (const auto& w : handover->workers) {
    if (w.output_fd >= 0) ::fcntl(w.output_fd, F_SETFD, FD_CLOEXEC);
    if (w.request_fd >= 0) ::fcntl(w.request_fd, F_SETFD, FD_CLOEXEC);
  }
  for (const auto& s : handover->sockets) ::fcntl(s.fd, F_SETFD, FD_CLOEXEC);
  for (int fd : {handover->events_read, handover->events_write, handover->counters_fd})
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return handover;
}

std::vector<Listener> adopt_listeners(const Handover& handover, config::Config& config, config::Warnings& warnings) {
  std::vector<config::SocketOption> kept;
  for (const auto& s : handover.sockets) {
    // A TLS socket keeps its files as the ini names them now (a reload picks up new ones).
    auto same = std::find_if(config.sockets.begin(), config.sockets.end(),
                             [&](const config::SocketOption& o) { return o.address == s.address; });
    kept.push_back({s.address, {}, s.http, same != config.sockets.end() ? same->tls : std::nullopt});
  }
  bool changed = kept.size() != config.sockets.size();
  for (std::size_t i = 0; !changed && i < kept.size(); ++i) changed = kept[i].address != config.sockets[i].address;
  if (changed) {
    warnings.push_back(
        "the socket list changed; sockets are kept across reloads, so restart ferry to "
        "apply that");
  }
  config.sockets = std::move(kept);
  std::vector<Listener> listeners;
  for (const auto& s : handover.sockets) {
    Listener listener;
    listener.fd.reset(s.fd);
    listener.address = s.address;
    listener.is_unix = is_unix_address(s.address);
    listener.http = s.http;
    listener.activated = s.activated;
    listener.device = s.device;
    listener.inode = s.inode;
    listeners.push_back(std::move(listener));
  }
  return listeners;
}

}  // namespace ferry::master
