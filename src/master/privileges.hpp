#pragma once

// uid/gid/chown-socket: names or numbers resolved once at start; privileges are dropped
// after the sockets are bound, the log is open and the pidfile is written, before any
// worker exists, so neither the workers nor the app ever run as root.

#include <sys/types.h>

#include <optional>
#include <string>

namespace ferry::master {

struct Identity {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::string user_name;  // for initgroups, when uid was given by name
};

// Throws StartupError naming the option and the unknown user or group.
Identity resolve_identity(const std::string& uid, const std::string& gid, const char* option);

// chown-socket = user[:group]
Identity resolve_owner(const std::string& spec);

// setgroups/setgid/setuid; throws StartupError if not permitted (e.g. not root).
void drop_privileges(const Identity& identity);

}  // namespace ferry::master
