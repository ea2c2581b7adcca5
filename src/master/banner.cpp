#include "master/banner.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "config/tls_options.hpp"
#include "ferry_build_config.hpp"

namespace ferry::master {

void log_banner(spdlog::logger& log, const config::Config& config, const std::vector<Listener>& listeners,
                const Handover* handover) {
  std::string sockets;
  for (const auto& l : listeners) {
    sockets += (sockets.empty() ? "" : ", ") + l.address;
    if (config::is_tls_socket(config, l.address)) sockets += l.http ? " (https)" : " (uwsgi over TLS)";
  }
  if (handover) {
    log.info(
        "ferry {} re-executed for a reload (preload): {} worker{} of generation {} keep serving until the "
        "new ones are ready",
        FERRY_VERSION, handover->workers.size(), handover->workers.size() == 1 ? "" : "s", handover->generation);
  }
  log.info("ferry {} starting: Python {} ({}), app {}{}, socket{} {}, {} worker{} x {} thread{}, master pid {}",
           FERRY_VERSION, FERRY_PYTHON_VERSION, config.home.empty() ? FERRY_PYTHON_EXECUTABLE : config.home,
           config.app_description(), config.preload ? " (preloaded in the master)" : "",
           listeners.size() == 1 ? "" : "s", sockets, config.processes, config.processes == 1 ? "" : "s",
           config.threads, config.threads == 1 ? "" : "s", ::getpid());
  if (!config.uid.empty() || !config.gid.empty()) {
    log.info("running as uid {}, gid {} (uid = {}, gid = {})", ::getuid(), ::getgid(), config.uid, config.gid);
  }
  if (config.stats) {
    log.info("stats server on {}{}", config.stats->address, config.stats_http ? " (HTTP: GET /)" : "");
  }
}

}  // namespace ferry::master
