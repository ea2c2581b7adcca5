#pragma once

// Everything ferry was told to do, after the ini files and flags are read and checked.
// Plain data: the master and workers read it, nothing else writes it.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/diagnostics.hpp"

namespace ferry::config {

struct SocketOption {
  std::string address;  // a Unix socket path, or host:port (":port" = every interface)
  Location where;
};

struct Config {
  // Python and the app
  std::string home;  // virtualenv
  std::string chdir;
  std::vector<std::string> pythonpath;
  std::string module;     // "pkg.mod" or "pkg.mod:callable"
  std::string wsgi_file;  // a .py file that defines the callable
  std::string callable;   // empty: "application", or what module names after ':'
  std::vector<std::pair<std::string, std::string>> env;
  bool need_app = true;

  // Sockets
  std::vector<SocketOption> sockets;
  std::optional<mode_t> chmod_socket;
  int listen = 0;  // 0: the kernel's somaxconn, capped at kDefaultListen
  std::size_t buffer_size = 65535;
  int socket_timeout = 60;  // seconds a worker waits on a silent client
  std::uint64_t limit_post = 0;  // largest request body accepted; 0: no limit

  // Processes
  int processes = 1;
  int threads = 1;
  int max_requests = 0;         // 0: never recycle
  int worker_reload_mercy = 30;  // seconds a stopping worker may finish in-flight requests
  std::string pidfile;
  bool vacuum = false;

  // Logging
  std::string logfile;  // empty: stderr
  bool daemonize = false;
  bool disable_logging = false;

  // How to read everything again on reload, and what was read.
  std::vector<std::string> arguments;
  std::vector<std::string> ini_files;

  std::string app_description() const {
    if (!wsgi_file.empty()) return wsgi_file + (callable.empty() ? "" : ":" + callable);
    return module;
  }
};

inline constexpr int kDefaultListen = 4096;

}  // namespace ferry::config
