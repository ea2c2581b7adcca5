#pragma once

// The listening sockets: created by the master before any worker exists, inherited by
// every worker across fork and kept open across reloads, so no connection is refused
// while workers come and go.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "config/config.hpp"

namespace ferry::master {

struct Listener {
  UniqueFd fd;
  std::string address;  // as configured
  bool is_unix = false;
  bool http = false;  // clients speak HTTP/1.1 here (http, http-socket); else uwsgi
  // systemd's (socket activation): it keeps the socket listening while ferry is down, so
  // that clients wait for the next ferry; a stop must leave it as it is.
  bool activated = false;
  // The inode we created, so vacuum removes the path only while it is still ours.
  dev_t device = 0;
  ino_t inode = 0;
};

// A path (it has a '/' or no ':') rather than host:port.
bool is_unix_address(const std::string& address);

// Throws StartupError.
std::vector<Listener> open_listeners(const config::Config& config, config::Warnings& warnings);

// The stats server's socket (stats = ADDR), made as the others are (chmod-socket,
// chown-socket, a stale file replaced); nullopt without `stats`. Throws StartupError.
std::optional<Listener> open_stats_listener(const config::Config& config);

// At a stop (not a reload): the sockets stop listening at once, for every process that
// holds them, so a new client is refused and a balancer such as nginx's upstream tries
// the next host without waiting, while the workers finish the requests they accepted.
// Left listening, the kernel would queue new clients until the last worker exits and then
// reset them, after nginx had sent them their request. The HTTP sockets, and the uwsgi
// ones with `uwsgi_too`: at a graceful stop the workers shut the uwsgi sockets
// themselves, once they have taken what waits in their queues (worker/stop_drain.hpp).
void stop_listening(const std::vector<Listener>& listeners, bool uwsgi_too);

// Removes Unix socket files that still are the ones we created.
void vacuum_listeners(const std::vector<Listener>& listeners);
void vacuum_listener(const Listener& listener);

}  // namespace ferry::master
