// src/master/systemd_notify.cpp: sd_notify datagrams reach the socket $NOTIFY_SOCKET names
// (a real AF_UNIX datagram socket bound in a temp dir, or in the abstract namespace).

#include "master/systemd_notify.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

using ferry::UniqueFd;
using ferry::master::SystemdNotifier;
namespace fs = std::filesystem;

namespace {

// A datagram socket bound at `name` (a path, or "\0..." for the abstract namespace).
UniqueFd bind_datagram(const std::string& name) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name.data(), name.size());
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), length) == 0);
  return fd;
}

// The next datagram, or "" after a second without one.
std::string receive(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 1000) != 1) return "";
  char buffer[256];
  const auto n = ::recv(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
}

}  // namespace

TEST_CASE("without NOTIFY_SOCKET the notifier is off and send() does nothing") {
  ::unsetenv("NOTIFY_SOCKET");
  const SystemdNotifier notifier;
  CHECK_FALSE(notifier.enabled());
  notifier.send("READY=1");  // must not crash
  notifier.restore_environment();
  CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
}

TEST_CASE("READY=1 arrives at the socket at the path; the variable is hidden from children, then restored") {
  std::string templ = (fs::temp_directory_path() / "ferry-notify-XXXXXX").string();
  const fs::path dir = ::mkdtemp(templ.data());
  const std::string path = (dir / "notify").string();
  const UniqueFd listener = bind_datagram(path);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  {
    const SystemdNotifier notifier;
    CHECK(notifier.enabled());
    CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);  // workers forked now do not inherit it
    notifier.send("READY=1\nSTATUS=serving");
    CHECK(receive(listener.get()) == "READY=1\nSTATUS=serving");
    notifier.send("STOPPING=1");
    CHECK(receive(listener.get()) == "STOPPING=1");
    notifier.restore_environment();
    REQUIRE(std::getenv("NOTIFY_SOCKET") != nullptr);
    CHECK(std::string(std::getenv("NOTIFY_SOCKET")) == path);
  }
  ::unsetenv("NOTIFY_SOCKET");
  fs::remove_all(dir);
}

TEST_CASE("'@name' is the abstract namespace") {
  const std::string name = "ferry-unit-notify-" + std::to_string(::getpid());
  const UniqueFd listener = bind_datagram(std::string(1, '\0') + name);
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  const SystemdNotifier notifier;
  CHECK(notifier.enabled());
  notifier.send("RELOADING=1");
  CHECK(receive(listener.get()) == "RELOADING=1");
  notifier.restore_environment();
  CHECK(std::string(std::getenv("NOTIFY_SOCKET")) == "@" + name);
  ::unsetenv("NOTIFY_SOCKET");
}
