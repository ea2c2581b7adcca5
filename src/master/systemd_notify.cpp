#include "master/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>

namespace ferry::master {

SystemdNotifier::SystemdNotifier() {
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (socket_path == nullptr || socket_path[0] == '\0' || std::strlen(socket_path) >= sizeof(sockaddr_un::sun_path)) {
    return;
  }
  variable_ = address_ = socket_path;
  if (address_[0] == '@') address_[0] = '\0';
  // Workers must not inherit the variable: a child that notifies would confuse systemd.
  ::unsetenv("NOTIFY_SOCKET");
  fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
}

void SystemdNotifier::send(std::string_view state) const {
  if (!fd_) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  ::sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), length);
}

void SystemdNotifier::send_reloading() const {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
                   std::chrono::duration_cast<std::chrono::microseconds>(now).count()));
}

void SystemdNotifier::restore_environment() const {
  if (!variable_.empty()) ::setenv("NOTIFY_SOCKET", variable_.c_str(), 1);
}

}  // namespace ferry::master
