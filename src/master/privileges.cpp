#include "master/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fmt/format.h>

#include "master/startup_error.hpp"

namespace ferry::master {
namespace {

template <typename Id>
std::optional<Id> number(const std::string& text) {
  unsigned long value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return static_cast<Id>(value);
}

}  // namespace

Identity resolve_identity(const std::string& uid, const std::string& gid, const char* option) {
  Identity identity;
  if (!uid.empty()) {
    if (const passwd* pw = ::getpwnam(uid.c_str())) {
      identity.uid = pw->pw_uid;
      identity.user_name = uid;
      if (gid.empty()) identity.gid = pw->pw_gid;  // the user's primary group by default
    } else if (auto n = number<uid_t>(uid)) {
      identity.uid = *n;
    } else {
      throw StartupError(fmt::format("{}: there is no user '{}' on this system", option, uid));
    }
  }
  if (!gid.empty()) {
    if (const group* gr = ::getgrnam(gid.c_str())) {
      identity.gid = gr->gr_gid;
    } else if (auto n = number<gid_t>(gid)) {
      identity.gid = *n;
    } else {
      throw StartupError(fmt::format("{}: there is no group '{}' on this system", option, gid));
    }
  }
  return identity;
}

Identity resolve_owner(const std::string& spec) {
  const auto colon = spec.find(':');
  return resolve_identity(spec.substr(0, colon), colon == std::string::npos ? "" : spec.substr(colon + 1),
                          "chown-socket");
}

void drop_privileges(const Identity& identity) {
  if (!identity.uid && !identity.gid) return;
  auto fail = [](const char* what, unsigned id) {
    throw StartupError(fmt::format("cannot switch to {} {}: {} (uid/gid need ferry to start as root)", what, id,
                                   std::strerror(errno)));
  };
  if (identity.gid) {
    // Supplementary groups first, while we still may: the user's own, or just the gid.
    const int groups = identity.user_name.empty() ? ::setgroups(1, &*identity.gid)
                                                  : ::initgroups(identity.user_name.c_str(), *identity.gid);
    if (groups != 0 && ::geteuid() == 0) fail("supplementary groups of gid", *identity.gid);
    if (::setgid(*identity.gid) != 0) fail("gid", *identity.gid);
  }
  if (identity.uid) {
    // Workers started during a reload import their app at a lower priority and then go
    // back to this one (worker/import_priority.hpp), which an unprivileged process may do
    // only within RLIMIT_NICE: allow exactly the current priority, nothing above it.
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, 0);
    rlimit limit{};
    if (errno == 0 && ::getrlimit(RLIMIT_NICE, &limit) == 0) {
      const auto needed = static_cast<rlim_t>(20 - nice);
      if (limit.rlim_cur < needed) {
        limit.rlim_cur = needed;
        limit.rlim_max = std::max(limit.rlim_max, needed);
        ::setrlimit(RLIMIT_NICE, &limit);  // best effort: without it, imports keep their priority
      }
    }
    if (::setuid(*identity.uid) != 0) fail("uid", *identity.uid);
    // A process that could become root again has not dropped anything.
    if (*identity.uid != 0 && ::setuid(0) == 0) {
      throw StartupError("uid: privileges could be regained after dropping them; refusing to run");
    }
  }
}

}  // namespace ferry::master
