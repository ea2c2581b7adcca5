// src/master/listeners.cpp: the listening sockets, bound for real: a Unix socket in a temp
// dir (its mode, a stale file replaced, a live one or a link refused, vacuum), TCP on
// 127.0.0.1:0, and a bad address refused naming where it was configured.

#include "master/listeners.hpp"

#include "config/socket_address.hpp"
#include "master/startup_error.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

using ferry::UniqueFd;
using ferry::config::Config;
using ferry::config::Location;
using ferry::config::SocketOption;
using ferry::config::Warnings;
using ferry::master::is_unix_address;
using ferry::master::open_listeners;
using ferry::master::StartupError;
using ferry::master::vacuum_listeners;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "ferry-listeners-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

Config with_socket(const std::string& address, bool http = false) {
  ::unsetenv("LISTEN_PID");  // no socket activation here
  Config config;
  config.sockets.push_back(SocketOption{address, Location{"site.ini", 4}, http});
  return config;
}

bool connects_unix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace

TEST_CASE("is_unix_address: a path or a bare name, not host:port") {
  CHECK(is_unix_address("/run/ferry.sock"));
  CHECK(is_unix_address("ferry.sock"));
  CHECK(is_unix_address("./a:b"));
  CHECK_FALSE(is_unix_address("127.0.0.1:8000"));
  CHECK_FALSE(is_unix_address(":8000"));
  CHECK_FALSE(is_unix_address("[::1]:8000"));
}

TEST_CASE("split_host_port: the last colon splits, an IPv6 host loses its brackets") {
  using ferry::config::split_host_port;
  CHECK(split_host_port("127.0.0.1:8000").host == "127.0.0.1");
  CHECK(split_host_port("127.0.0.1:8000").port == "8000");
  CHECK(split_host_port(":3031").host.empty());
  CHECK(split_host_port(":3031").port == "3031");
  CHECK(split_host_port("[::1]:80").host == "::1");
  CHECK(split_host_port("[::1]:80").port == "80");
  CHECK(split_host_port("localhost:9191").host == "localhost");
}

TEST_CASE("a Unix socket is bound with chmod-socket's mode, accepts, and vacuum removes it") {
  TempDir dir;
  const auto path = dir.file("app.sock");
  Config config = with_socket(path);
  config.chmod_socket = 0660;
  Warnings warnings;
  auto listeners = open_listeners(config, warnings);
  REQUIRE(listeners.size() == 1);
  CHECK(listeners[0].is_unix);
  CHECK_FALSE(listeners[0].http);
  CHECK(listeners[0].address == path);
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);
  CHECK(listeners[0].inode == st.st_ino);
  CHECK(connects_unix(path));

  vacuum_listeners(listeners);
  CHECK_FALSE(fs::exists(fs::symlink_status(path)));
}

TEST_CASE("vacuum leaves a socket file that is no longer ours") {
  TempDir dir;
  const auto path = dir.file("app.sock");
  Warnings warnings;
  auto listeners = open_listeners(with_socket(path), warnings);
  fs::remove(path);
  std::ofstream(path) << "someone else's\n";
  vacuum_listeners(listeners);
  CHECK(fs::exists(path));
}

TEST_CASE("a stale socket file (nobody listens) is replaced; a live one is refused") {
  TempDir dir;
  const auto path = dir.file("app.sock");
  Warnings warnings;
  {
    auto first = open_listeners(with_socket(path), warnings);
    // A second server on the same path while the first listens: refused.
    CHECK_THROWS_WITH_AS(open_listeners(with_socket(path), warnings), doctest::Contains("another server is listening"),
                         StartupError);
  }  // closed without vacuum: the file stays, stale
  REQUIRE(fs::exists(fs::symlink_status(path)));
  auto second = open_listeners(with_socket(path), warnings);
  REQUIRE(second.size() == 1);
  CHECK(connects_unix(path));
}

TEST_CASE("a link or a regular file at the socket's path is refused") {
  TempDir dir;
  const auto target = dir.file("target");
  std::ofstream(target) << "x";
  const auto link = dir.file("link.sock");
  fs::create_symlink(target, link);
  Warnings warnings;
  CHECK_THROWS_WITH_AS(open_listeners(with_socket(link), warnings), doctest::Contains("symbolic link"), StartupError);
  CHECK_THROWS_WITH_AS(open_listeners(with_socket(target), warnings), doctest::Contains("is not a socket"),
                       StartupError);
  CHECK(fs::is_regular_file(target));
}

TEST_CASE("TCP on 127.0.0.1:0: bound, listening, non-blocking; an http socket is marked") {
  Warnings warnings;
  auto listeners = open_listeners(with_socket("127.0.0.1:0", /*http=*/true), warnings);
  REQUIRE(listeners.size() == 1);
  CHECK_FALSE(listeners[0].is_unix);
  CHECK(listeners[0].http);
  sockaddr_in addr{};
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(listeners[0].fd.get(), reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  CHECK(addr.sin_family == AF_INET);
  CHECK(addr.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
  REQUIRE(ntohs(addr.sin_port) != 0);

  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  CHECK(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  UniqueFd accepted(::accept4(listeners[0].fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  CHECK(accepted);
  // Nothing else waits: a non-blocking listener says so instead of hanging.
  CHECK(::accept4(listeners[0].fd.get(), nullptr, nullptr, SOCK_CLOEXEC) == -1);
  CHECK(errno == EAGAIN);
}

TEST_CASE("an address that cannot be resolved names the ini line of the socket option") {
  Warnings warnings;
  CHECK_THROWS_WITH_AS(open_listeners(with_socket("127.0.0.1:http-ish"), warnings),
                       doctest::Contains("site.ini, line 4: socket '127.0.0.1:http-ish'"), StartupError);
}

TEST_CASE("a port in use is refused, saying so") {
  Warnings warnings;
  auto first = open_listeners(with_socket("127.0.0.1:0"), warnings);
  sockaddr_in addr{};
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(first[0].fd.get(), reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  CHECK_THROWS_WITH_AS(open_listeners(with_socket(taken), warnings), doctest::Contains("another server uses this port"),
                       StartupError);
}

TEST_CASE("listen above the kernel's somaxconn is a warning that says how to raise it") {
  std::ifstream in("/proc/sys/net/core/somaxconn");
  int somaxconn = 0;
  REQUIRE(static_cast<bool>(in >> somaxconn));
  Config config = with_socket("127.0.0.1:0");
  config.listen = somaxconn + 1;
  Warnings warnings;
  auto listeners = open_listeners(config, warnings);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("net.core.somaxconn") != std::string::npos);
}
