#pragma once

// Everything ferry was told to do, after the ini files and flags are read and checked.
// Plain data: the master and workers read it, nothing else writes it.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/log_shape.hpp"

namespace ferry::config {

// ssl-socket / https = ADDR,CERT,KEY[,CIPHERS,CA]: the files as written (read by the
// worker layer's TlsContext, at startup, on a reload and in each new worker).
struct TlsFiles {
  std::string option;  // "ssl-socket" or "https", for error messages
  std::string cert, key;
  std::string ciphers;  // empty: OpenSSL's defaults (TLS 1.2 and up)
  std::string ca;       // set: clients must present a certificate signed by it
};

struct SocketOption {
  std::string address;  // a Unix socket path, or host:port (":port" = every interface)
  Location where;
  bool http = false;              // speaks HTTP/1.1 to clients (http, http-socket) instead of uwsgi
  std::optional<TlsFiles> tls{};  // ssl-socket, https
};

// static-map = /static=DIR
struct StaticMap {
  std::string prefix;
  std::string directory;
};

// One WSGI callable to load: the main app (mountpoint "") or a `mount`.
struct AppSpec {
  std::string mountpoint;  // "" or "/prefix", without a trailing slash
  std::string module;      // "pkg.mod" (callable split off), or
  std::string wsgi_file;   // a .py file
  std::string callable;    // empty: "application"

  std::string describe() const {
    const std::string target = wsgi_file.empty() ? module : wsgi_file;
    return (mountpoint.empty() ? "" : mountpoint + "=") + target + (callable.empty() ? "" : ":" + callable);
  }
};

// "module:callable" or "path/to/file.py[:callable]" as `module` and `mount` take them.
AppSpec parse_app_target(std::string_view target, std::string mountpoint);

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
  std::vector<AppSpec> mounts;  // mount = /prefix=target
  bool manage_script_name = false;
  // Import the app once in the master and fork the workers from it (lazy-apps = false),
  // instead of importing it in each worker after fork (the default).
  bool preload = false;

  // Sockets
  std::vector<SocketOption> sockets;
  std::optional<mode_t> chmod_socket;
  std::optional<mode_t> umask;
  std::string chown_socket;  // user[:group]
  std::string uid, gid;      // drop to these after binding
  int listen = 0;            // 0: the kernel's somaxconn, capped at kDefaultListen
  std::size_t buffer_size = 65535;
  int socket_timeout = 60;           // seconds a worker waits on a silent client
  std::uint64_t limit_post = 0;      // largest request body accepted; 0: no limit
  std::uint64_t post_buffering = 0;  // read bodies before the app runs: in memory up to this, then a temp file
  int http_keepalive = 5;            // seconds an idle HTTP keep-alive connection is kept; 0: close after each response
  int http_timeout = 10;             // seconds an HTTP client has to send a request's head (and a buffered body)
  std::vector<StaticMap> static_maps;

  // The stats server: stats = ADDR (a Unix socket path or host:port); HTTP with stats-http
  std::optional<SocketOption> stats;
  bool stats_http = false;
  bool stats_minified = false;

  // Processes
  int processes = 1;
  int threads = 1;
  int max_requests = 0;                         // 0: never recycle
  int max_requests_delta = 0;                   // worker N recycles after max_requests + N * delta
  int min_worker_lifetime = 0;                  // seconds before max-requests/reload-on-* may recycle a worker
  std::uint64_t reload_on_rss_mb = 0;           // recycle a worker whose resident memory passes this
  std::uint64_t reload_on_as_mb = 0;            // ... or whose address space passes this
  std::uint64_t limit_as_mb = 0;                // RLIMIT_AS of each worker once the app is loaded; 0: none
  std::vector<std::string> touch_reload;        // reload when one of these files' mtime changes
  std::vector<std::string> touch_chain_reload;  // chain-reload likewise
  int harakiri = 0;                             // seconds a request may run; 0: no limit
  int worker_reload_mercy = 30;                 // seconds a stopping worker may finish in-flight requests
  std::string pidfile;
  bool vacuum = false;

  // Logging
  std::string logfile;  // empty: stderr
  bool daemonize = false;
  bool disable_logging = false;
  std::uint64_t log_maxsize = 0;             // rotate the log when it would pass this many bytes; 0: never
  std::string log_backupname;                // where a rotated log goes; empty: LOGFILE.<UTC timestamp>
  bool log_reopen = false;                   // reopen the log after a reload
  std::vector<std::string> touch_logreopen;  // reopen the log when one of these files' mtime changes
  RequestLogShape request_log;               // log-format, log-req-encoder, log-slow...

  // Process titles
  bool auto_procname = false;
  std::string procname_prefix;

  // How to read everything again on reload, and what was read.
  std::vector<std::string> arguments;
  // The FERRY_ variables it was started with: a reload reads the same ones, whatever the
  // app has done to the master's environment since.
  std::vector<std::string> environment;
  std::vector<std::string> ini_files;

  // Every app to load: the main one (if any) first, then the mounts.
  std::vector<AppSpec> apps() const {
    std::vector<AppSpec> all;
    if (!module.empty() || !wsgi_file.empty()) all.push_back(AppSpec{"", module, wsgi_file, callable});
    all.insert(all.end(), mounts.begin(), mounts.end());
    return all;
  }

  std::string app_description() const {
    std::string out;
    for (const auto& app : apps()) out += (out.empty() ? "" : ", ") + app.describe();
    return out;
  }
};

inline constexpr int kDefaultListen = 4096;

}  // namespace ferry::config
