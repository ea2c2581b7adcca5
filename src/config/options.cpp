#include "config/options.hpp"

#include "config/log_options.hpp"
#include "config/socket_address.hpp"
#include "config/tls_options.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <fmt/format.h>

namespace ferry::config {
namespace {

int number(std::string_view key, std::string_view value, const Location& where, long min, long max) {
  return static_cast<int>(parse_number(key, value, where, min, max));
}

std::string text(std::string_view key, std::string_view value, const Location& where) {
  if (value.empty()) throw ConfigError(where, fmt::format("{} needs a value", key));
  return std::string(value);
}

// "/PREFIX=VALUE" (mount, static-map): the prefix without trailing '/'s, and the value.
std::pair<std::string, std::string_view> prefix_and_value(std::string_view v, const Location& where,
                                                          std::string_view expected) {
  const auto eq = v.find('=');
  std::string prefix(v.substr(0, eq == std::string_view::npos ? 0 : eq));
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (eq == std::string_view::npos || prefix.empty() || prefix.front() != '/' || eq + 1 == v.size()) {
    throw ConfigError(where, fmt::format("{}, got '{}'", expected, v));
  }
  return {std::move(prefix), v.substr(eq + 1)};
}

// `logger = file:PATH` and `logger = file:logfile=PATH` as uWSGI's logfile plugin reads them;
// an optional logger name may come first (`logger = main file:PATH`).
std::string logger_path(std::string_view value, const Location& where) {
  if (const auto space = value.find(' '); space != std::string_view::npos) {
    const auto target = value.find_first_not_of(' ', space);
    value = target == std::string_view::npos ? std::string_view() : value.substr(target);
  }
  constexpr std::string_view file_prefix = "file:";
  if (!value.starts_with(file_prefix)) {
    throw ConfigError(
        where, fmt::format("logger = {}: ferry's built-in logger writes to a file; use 'logger = file:/path/to.log' "
                           "(or omit logger to log to stderr, e.g. for journald or docker logs)",
                           value));
  }
  value.remove_prefix(file_prefix.size());
  if (value.starts_with("logfile=")) {
    value.remove_prefix(8);
    if (value.find(',') != std::string_view::npos) {
      throw ConfigError(where,
                        "logger file options other than logfile= are not supported; "
                        "use 'logger = file:/path/to.log'");
    }
  }
  return text("logger", value, where);
}

// Octal permission bits, as chmod-socket and umask take them.
mode_t octal_mode(std::string_view key, std::string_view value, const Location& where, std::string_view examples) {
  unsigned mode = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), mode, 8);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || mode > 0777) {
    throw ConfigError(where, fmt::format("{} expects octal permissions such as {}, got '{}'", key, examples, value));
  }
  return static_cast<mode_t>(mode);
}

mode_t socket_mode(std::string_view value, const Location& where) {
  // A bare chmod-socket means 666 in uWSGI.
  if (value.empty() || value == "true") return 0666;
  return octal_mode("chmod-socket", value, where, "660 or 666");
}

void ignored_flag(std::string_view key, std::string_view value, const Location& where, Warnings& warnings,
                  std::string_view why) {
  if (!parse_bool(key, value, where)) {
    warnings.push_back(fmt::format("{}: {} = false has no effect: {}", where.describe(), key, why));
  }
}

constexpr std::array kOptions{
    Option{"ini", "", OptionKind::list, "FILE[:SECTION]",
           "read options from an ini file ([uwsgi] section unless :SECTION)",
           nullptr},  // handled by the loader, which reads the file in place
    Option{"set-placeholder", "set-ph", OptionKind::list, "NAME=VALUE",
           "define %(NAME) for later lines without it being an option", nullptr},  // handled by the loader
    Option{"home", "virtualenv venv pyhome", OptionKind::text, "DIR", "the virtualenv to run the app in",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.home = text("home", v, w); }},
    Option{"chdir", "", OptionKind::text, "DIR", "change to DIR before loading the app",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.chdir = text("chdir", v, w); }},
    Option{"pythonpath", "python-path pp", OptionKind::list, "DIR", "add DIR to sys.path (repeatable)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.pythonpath.push_back(text("pythonpath", v, w));
           }},
    Option{"module", "wsgi", OptionKind::text, "MOD[:CALLABLE]",
           "the WSGI app to load, e.g. server_dev.wsgi:application",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.module = text("module", v, w); }},
    Option{"wsgi-file", "file", OptionKind::text, "FILE", "load the WSGI app from a Python file",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.wsgi_file = text("wsgi-file", v, w); }},
    Option{"callable", "", OptionKind::text, "NAME", "the name of the WSGI callable (default: application)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.callable = text("callable", v, w); }},
    Option{"env", "", OptionKind::list, "KEY=VALUE", "set an environment variable for the app (repeatable)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             const auto eq = v.find('=');
             if (eq == std::string_view::npos || eq == 0) {
               throw ConfigError(w, fmt::format("env expects KEY=VALUE, got '{}'", v));
             }
             c.env.emplace_back(std::string(v.substr(0, eq)), std::string(v.substr(eq + 1)));
           }},
    Option{"mount", "", OptionKind::list, "/PREFIX=APP",
           "serve another app under a URL prefix, e.g. /api=api.wsgi:app (repeatable)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             auto [prefix, target] =
                 prefix_and_value(v, w, "mount expects /PREFIX=module:callable (or =path/to/app.py)");
             if (prefix == "/") prefix.clear();  // "/" is the main app's place
             c.mounts.push_back(parse_app_target(target, prefix));
           }},
    Option{"manage-script-name", "", OptionKind::flag, "",
           "pick the mounted app by PATH_INFO prefix, moving the prefix to SCRIPT_NAME",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.manage_script_name = parse_bool("manage-script-name", v, w);
           }},
    Option{"need-app", "", OptionKind::flag, "", "exit if the app cannot be loaded (always on)",
           [](Config&, std::string_view v, const Location& w, Warnings& warn) {
             ignored_flag("need-app", v, w, warn, "ferry never runs without an app");
           }},
    Option{"lazy-apps", "", OptionKind::flag, "",
           "load the app in each worker after fork (the default); false: load it once in the master, as preload",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.preload = !parse_bool("lazy-apps", v, w);
           }},
    Option{
        "preload", "", OptionKind::flag, "",
        "import the app once in the master, then fork the workers (saves memory; see the README before using it)",
        [](Config& c, std::string_view v, const Location& w, Warnings&) { c.preload = parse_bool("preload", v, w); }},
    Option{"socket", "uwsgi-socket s", OptionKind::list, "ADDR",
           "serve the uwsgi protocol on a Unix socket path or host:port (repeatable)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.sockets.push_back({text("socket", v, w), w, false, std::nullopt});
           }},
    Option{"http", "", OptionKind::list, "[ADDR]:PORT",
           "serve HTTP/1.1 to clients directly, e.g. :8000 or 127.0.0.1:8000 (repeatable; same as http-socket)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.sockets.push_back(http_socket("http", v, w));
           }},
    Option{"http-socket", "", OptionKind::list, "[ADDR]:PORT",
           "the same as http: the workers speak HTTP/1.1 themselves, no router process",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.sockets.push_back(http_socket("http-socket", v, w));
           }},
    Option{"http-keepalive", "", OptionKind::number, "SECONDS",
           "keep idle HTTP/1.1 connections open this long between requests (default 5; 0 = close after each response)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.http_keepalive = number("http-keepalive", v, w, 0, 3600);
           }},
    Option{"http-timeout", "", OptionKind::number, "SECONDS",
           "time an HTTP client has to send a request's headers (and a body read before the app runs; default 10)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.http_timeout = number("http-timeout", v, w, 1, 3600);
           }},
    Option{
        "static-map", "", OptionKind::list, "/PREFIX=DIR",
        "serve the files under DIR at /PREFIX, before the app (repeatable; for development: use nginx in production)",
        [](Config& c, std::string_view v, const Location& w, Warnings&) {
          auto [prefix, directory] =
              prefix_and_value(v, w, "static-map expects /PREFIX=DIRECTORY, e.g. /static=/srv/app/static");
          c.static_maps.push_back({std::move(prefix), std::string(directory)});
        }},
    Option{"stats", "stats-server", OptionKind::text, "ADDR",
           "serve uWSGI's stats JSON (uwsgitop reads it) on a Unix socket path or host:port",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.stats = stats_address(v, w); }},
    Option{"stats-http", "", OptionKind::flag, "", "the stats address speaks HTTP: the JSON at GET /",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.stats_http = parse_bool("stats-http", v, w);
           }},
    Option{"stats-minified", "", OptionKind::flag, "", "write the stats JSON without whitespace",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.stats_minified = parse_bool("stats-minified", v, w);
           }},
    Option{"chmod-socket", "", OptionKind::text, "MODE", "permissions of Unix sockets (octal, bare = 666)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.chmod_socket = socket_mode(v, w); }},
    Option{"umask", "", OptionKind::text, "MODE",
           "the file-creation mask (octal) for the log, sockets and pidfile, e.g. 027",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.umask = octal_mode("umask", v, w, "022 or 027");
           }},
    Option{"chown-socket", "", OptionKind::text, "USER[:GROUP]",
           "owner of the Unix sockets, e.g. www-data:www-data (needs root)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.chown_socket = text("chown-socket", v, w);
           }},
    Option{"uid", "", OptionKind::text, "USER", "run as this user (name or number) once the sockets are bound",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.uid = text("uid", v, w); }},
    Option{"gid", "", OptionKind::text, "GROUP", "run as this group (default with uid: the user's group)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.gid = text("gid", v, w); }},
    Option{"listen", "", OptionKind::number, "N", "listen backlog (default: the kernel's somaxconn, up to 4096)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.listen = number("listen", v, w, 1, 1 << 20);
           }},
    Option{"buffer-size", "b", OptionKind::number, "BYTES",
           "largest uwsgi vars block accepted (default and maximum 65535)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.buffer_size = static_cast<std::size_t>(number("buffer-size", v, w, 64, 65535));
           }},
    Option{"socket-timeout", "", OptionKind::number, "SECONDS",
           "how long a worker waits on a silent client (default 60)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.socket_timeout = number("socket-timeout", v, w, 1, 86400);
           }},
    Option{"limit-post", "", OptionKind::number, "BYTES",
           "refuse request bodies larger than this with 413 (0 = no limit)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.limit_post =
                 static_cast<std::uint64_t>(parse_number("limit-post", v, w, 0, std::numeric_limits<long>::max()));
           }},
    Option{"post-buffering", "", OptionKind::number, "BYTES",
           "read each body before the app runs (seekable wsgi.input): in memory up to BYTES, larger ones in an "
           "unlinked temp file",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.post_buffering =
                 static_cast<std::uint64_t>(parse_number("post-buffering", v, w, 0, std::numeric_limits<long>::max()));
           }},
    Option{"auto-procname", "", OptionKind::flag, "",
           "title processes 'ferry master' and 'ferry worker N' in ps and top",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.auto_procname = parse_bool("auto-procname", v, w);
           }},
    Option{"procname-prefix", "", OptionKind::text, "TEXT",
           "put TEXT before every process title (implies auto-procname)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.procname_prefix = text("procname-prefix", v, w);
             c.auto_procname = true;
           }},
    Option{"procname-prefix-spaced", "", OptionKind::text, "TEXT", "like procname-prefix, with a space after TEXT",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.procname_prefix = text("procname-prefix-spaced", v, w) + " ";
             c.auto_procname = true;
           }},
    Option{"master", "M", OptionKind::flag, "", "run a master process (always on in ferry)",
           [](Config&, std::string_view v, const Location& w, Warnings& warn) {
             ignored_flag("master", v, w, warn, "ferry always runs a master that supervises the workers");
           }},
    Option{"processes", "workers p", OptionKind::number, "N", "number of worker processes (default 1)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.processes = number("processes", v, w, 1, 1024);
           }},
    Option{"threads", "", OptionKind::number, "N", "threads per worker, each serving one request at a time (default 1)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.threads = number("threads", v, w, 1, 1024);
           }},
    Option{"enable-threads", "T", OptionKind::flag, "", "let the app start threads (always on in ferry)",
           [](Config&, std::string_view v, const Location& w, Warnings& warn) {
             ignored_flag("enable-threads", v, w, warn, "Python threads always work in ferry");
           }},
    Option{"max-requests", "R", OptionKind::number, "N", "replace a worker after it served N requests (0 = never)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.max_requests = number("max-requests", v, w, 0, 1 << 30);
           }},
    Option{"max-requests-delta", "", OptionKind::number, "N",
           "worker K recycles after max-requests + K*N requests, so workers do not recycle together",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.max_requests_delta = number("max-requests-delta", v, w, 0, 1 << 20);
           }},
    Option{"touch-reload", "", OptionKind::list, "FILE",
           "reload gracefully when FILE's modification time changes (repeatable)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.touch_reload.push_back(text("touch-reload", v, w));
           }},
    Option{"touch-chain-reload", "", OptionKind::list, "FILE",
           "replace the workers one at a time when FILE's modification time changes",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.touch_chain_reload.push_back(text("touch-chain-reload", v, w));
           }},
    Option{"harakiri", "", OptionKind::number, "SECONDS",
           "a request running longer is logged with every thread's Python stack, cut, and its worker replaced",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.harakiri = number("harakiri", v, w, 0, 86400);
           }},
    Option{"min-worker-lifetime", "", OptionKind::number, "SECONDS",
           "a worker is recycled (max-requests, reload-on-rss/-as) only after living this long",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.min_worker_lifetime = number("min-worker-lifetime", v, w, 0, 86400);
           }},
    Option{"reload-on-rss", "", OptionKind::number, "MB",
           "recycle a worker whose resident memory passes MB (checked after each request)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.reload_on_rss_mb = static_cast<std::uint64_t>(number("reload-on-rss", v, w, 0, 1 << 24));
           }},
    Option{"reload-on-as", "", OptionKind::number, "MB", "recycle a worker whose address space passes MB",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.reload_on_as_mb = static_cast<std::uint64_t>(number("reload-on-as", v, w, 0, 1 << 24));
           }},
    Option{"limit-as", "", OptionKind::number, "MB",
           "cap each worker's address space at MB (RLIMIT_AS): an allocation past it fails with MemoryError",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.limit_as_mb = static_cast<std::uint64_t>(number("limit-as", v, w, 0, 1 << 24));
           }},
    Option{"worker-reload-mercy", "", OptionKind::number, "SECONDS",
           "how long stopping workers may finish in-flight requests (default 30)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.worker_reload_mercy = number("worker-reload-mercy", v, w, 1, 86400);
           }},
    Option{"pidfile", "", OptionKind::text, "FILE", "write the master's pid to FILE",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.pidfile = text("pidfile", v, w); }},
    Option{"vacuum", "", OptionKind::flag, "",
           "remove the Unix sockets and pidfile on exit (only while they are still ours)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.vacuum = parse_bool("vacuum", v, w); }},
    Option{"logger", "", OptionKind::text, "file:PATH", "append the log to PATH (built in, no plugin needed)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.logfile = logger_path(v, w); }},
    Option{"logto", "", OptionKind::text, "PATH", "append the log to PATH",
           [](Config& c, std::string_view v, const Location& w, Warnings&) { c.logfile = text("logto", v, w); }},
    Option{"daemonize", "", OptionKind::text, "PATH", "detach into the background and append the log to PATH",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.logfile = text("daemonize", v, w);
             c.daemonize = true;
           }},
    Option{"disable-logging", "L", OptionKind::flag, "", "do not log a line per request (other lines stay)",
           [](Config& c, std::string_view v, const Location& w, Warnings&) {
             c.disable_logging = parse_bool("disable-logging", v, w);
           }},
};

struct Explained {
  std::string_view name;
  std::string_view reason;
};

// Known uWSGI options whose job ferry does by design: a warning, never an error.
constexpr std::array kMeaningless{
    Explained{"plugins", "ferry has Python built in; there are no plugins to load"},
    Explained{"plugin", "ferry has Python built in; there are no plugins to load"},
    Explained{"plugins-dir", "ferry has no plugins"},
    Explained{"single-interpreter", "ferry always runs one interpreter per worker"},
    Explained{"thunder-lock", "ferry's workers do not need an accept lock"},
    Explained{"die-on-term", "SIGTERM always stops ferry gracefully"},
    Explained{"strict", "ferry always rejects unknown options"},
    Explained{"no-orphans", "ferry's workers always stop when the master dies"},
    Explained{"memory-report", "not implemented; log-format's %(rss) and %(vsz) put memory figures in request lines"},
    Explained{"harakiri-verbose", "ferry always logs the stuck request and every thread's Python stack"},
    Explained{"py-tracebacker", "not available in ferry"},
};

// Known uWSGI options ferry does not do (yet): refused, so nothing is silently ignored.
constexpr std::array kUnsupported{
    Explained{"py-autoreload", "not implemented yet; send SIGHUP to the master to reload"},
    Explained{"cheaper", "ferry runs a fixed number of workers; remove cheaper"},
    Explained{"offload-threads", "ferry has no offload threads; remove it"},
    Explained{"reload-mercy", "use worker-reload-mercy"},
    Explained{"ping", "a client command, not a server setting: run 'ferry --ping ADDR' from the health check"},
    Explained{"ping-timeout", "goes with the client command 'ferry --ping ADDR --ping-timeout SECONDS'"},
};

template <typename Table>
std::string_view lookup(const Table& table, std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.reason;
  }
  return {};
}

bool has_alias(std::string_view aliases, std::string_view name) {
  while (!aliases.empty()) {
    const auto space = aliases.find(' ');
    if (aliases.substr(0, space) == name) return true;
    if (space == std::string_view::npos) break;
    aliases.remove_prefix(space + 1);
  }
  return false;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::span<const Option> options() {
  static const std::vector<Option> all = [] {  // the request log's and TLS options have files of their own
    std::vector<Option> joined(kOptions.begin(), kOptions.end());
    joined.insert(joined.end(), log_options().begin(), log_options().end());
    joined.insert(joined.end(), tls_options().begin(), tls_options().end());
    return joined;
  }();
  return all;
}

AppSpec parse_app_target(std::string_view target, std::string mountpoint) {
  AppSpec spec;
  spec.mountpoint = std::move(mountpoint);
  // A path (has a '/' or ends in .py) is a wsgi-file; else a module. ":name" picks the callable.
  const auto colon = target.rfind(':');
  std::string_view path = target;
  if (colon != std::string_view::npos && target.find('/', colon) == std::string_view::npos) {
    spec.callable = target.substr(colon + 1);
    path = target.substr(0, colon);
  }
  if (path.find('/') != std::string_view::npos || path.ends_with(".py")) {
    spec.wsgi_file = path;
  } else {
    spec.module = path;
  }
  return spec;
}

const Option* find_option(std::string_view name) {
  for (const auto& option : options()) {
    if (option.name == name || has_alias(option.aliases, name)) return &option;
  }
  return nullptr;
}

std::string_view meaningless_uwsgi_option(std::string_view name) { return lookup(kMeaningless, name); }
std::string_view unsupported_uwsgi_option(std::string_view name) { return lookup(kUnsupported, name); }

std::string closest_option(std::string_view name) {
  std::string best;
  // Allow one edit per four characters: catches typos without suggesting unrelated names.
  std::size_t best_distance = std::max<std::size_t>(2, name.size() / 4) + 1;
  for (const auto& option : options()) {
    const auto distance = edit_distance(name, option.name);
    if (distance < best_distance) {
      best_distance = distance;
      best = option.name;
    }
  }
  return best;
}

std::string options_help() {
  std::string out;
  for (const auto& option : options()) {
    std::string flag = fmt::format("--{}{}{}", option.name, option.metavar.empty() ? "" : " ", option.metavar);
    std::string aliases;
    for (const auto alias : long_aliases(option)) {
      aliases += fmt::format("{}{}", aliases.empty() ? " (also " : ", ", alias);
    }
    if (!aliases.empty()) aliases += ")";
    out += fmt::format("  {:<34} {}{}\n", flag, option.help, aliases);
  }
  return out;
}

std::vector<std::string_view> long_aliases(const Option& option) {
  std::vector<std::string_view> out;
  std::string_view rest = option.aliases;
  while (!rest.empty()) {
    const auto space = rest.find(' ');
    const auto alias = rest.substr(0, space);
    if (alias.size() > 1) out.push_back(alias);
    rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
  }
  return out;
}

long parse_number(std::string_view key, std::string_view value, const Location& where, long min, long max) {
  long result = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
    throw ConfigError(where, fmt::format("{} expects a whole number, got '{}'", key, value));
  }
  if (result < min || result > max) {
    throw ConfigError(where, fmt::format("{} = {} is out of range; use {} to {}", key, value, min, max));
  }
  return result;
}

std::string parse_text(std::string_view key, std::string_view value, const Location& where) {
  return text(key, value, where);
}

bool parse_bool(std::string_view key, std::string_view value, const Location& where) {
  for (std::string_view yes : {"true", "1", "on", "yes", "True", "TRUE", "On", "Yes"}) {
    if (value == yes) return true;
  }
  for (std::string_view no : {"false", "0", "off", "no", "False", "FALSE", "Off", "No"}) {
    if (value == no) return false;
  }
  throw ConfigError(where, fmt::format("{} expects true or false, got '{}'", key, value));
}

}  // namespace ferry::config
