#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

#include "common/exit_codes.hpp"
#include "common/logging.hpp"
#include "master/daemon.hpp"
#include "master/master.hpp"
#include "master/privileges.hpp"
#include "master/serve.hpp"
#include "master/startup_error.hpp"
#include "master/reexec.hpp"

namespace ferry::master {

// What happens before the master's loop, in order: take a handover, bind (or adopt) the
// sockets, open the log, check and write the pidfile, daemonize, drop privileges, preload.
int run_master(config::Loaded loaded) {
  // A stats client that hangs up before its answer is written is an EPIPE, not the master's
  // death; a log past RLIMIT_FSIZE is an EFBIG that LogFile reports, not a SIGXFSZ core.
  // (Workers set their own; a forked child inherits these, and Python's subprocess restores
  // the defaults for the programs it runs.)
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGXFSZ, SIG_IGN);
  auto handover = take_handover();
  config::Config& config = loaded.config;
  std::vector<Listener> listeners;
  // The sockets stay the ones handed over, as on any reload.
  if (handover) listeners = adopt_listeners(*handover, config, loaded.warnings);
  // Certificates and keys are read before anything is bound, as root like the sockets are
  // bound (a key only root can read works); a bad one is a configuration error.
  worker::TlsContexts tls;
  try {
    tls = worker::TlsContexts::load(config);
  } catch (const worker::TlsError& e) {
    std::fprintf(stderr, "ferry: configuration error: %s\n", e.what());
    return kExitConfig;
  }
  if (config.umask) ::umask(*config.umask);  // before the log, sockets and pidfile exist
  UniqueFd log_fd = open_log(config.logfile);
  if (!handover && !config.pidfile.empty()) Pidfile::check_free(config.pidfile);
  if (!handover) listeners = open_listeners(config, loaded.warnings);
  std::optional<Listener> stats_listener;
  const auto leave_nothing = [&] {
    vacuum_listeners(listeners);
    if (stats_listener) vacuum_listener(*stats_listener);
  };
  if (!config.logfile.empty() && !handover) {
    const std::string note = fmt::format("ferry: logging to {}\n", config.logfile);
    write_fully(STDERR_FILENO, note);
  }
  if (config.daemonize && !handover) daemonize(log_fd.get());
  Pidfile pidfile;
  Preloaded preloaded;
  try {
    stats_listener = open_stats_listener(config);  // a re-executed master binds it afresh
    const Identity identity = resolve_identity(config.uid, config.gid, "uid/gid");
    if (!config.pidfile.empty()) {
      if (handover) {
        pidfile.adopt(config.pidfile, ::getpid());
      } else {
        pidfile.write(config.pidfile, ::getpid());
      }
    }
    // Last step as root: the sockets are bound, the log and the pidfile written.
    drop_privileges(identity);
    if (config.preload) {
      preloaded = preload_in_master(config, log_fd.get(), listeners, handover.has_value());
      if (!preloaded.app && !handover) {
        leave_nothing();
        pidfile.remove_if_ours();
        return kExitAppLoad;
      }
    }
  } catch (const StartupError&) {
    if (!handover) leave_nothing();  // a failed start leaves nothing behind
    throw;
  }
  return serve({std::move(loaded), std::move(log_fd), std::move(listeners), std::move(preloaded), std::move(handover),
                std::move(pidfile), std::move(stats_listener), std::move(tls)});
}

}  // namespace ferry::master
