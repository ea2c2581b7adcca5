// src/master/privileges.cpp: uid/gid/chown-socket resolved by name or number, unknown names
// refused naming the option, and the drop itself (in a forked child, which alone loses them).

#include "master/privileges.hpp"

#include "master/startup_error.hpp"

#include <doctest/doctest.h>

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "in_child.hpp"

using ferry::master::drop_privileges;
using ferry::master::Identity;
using ferry::master::resolve_identity;
using ferry::master::resolve_owner;
using ferry::master::StartupError;

using ferry::test::in_child;

TEST_CASE("a user name gives its uid, its name for initgroups and its primary group") {
  const passwd* root = ::getpwuid(0);
  REQUIRE(root != nullptr);
  const Identity identity = resolve_identity(root->pw_name, "", "uid");
  REQUIRE(identity.uid);
  CHECK(*identity.uid == 0);
  REQUIRE(identity.gid);
  CHECK(*identity.gid == root->pw_gid);
  CHECK(identity.user_name == root->pw_name);
}

TEST_CASE("numbers are taken as ids, with no name for initgroups") {
  const Identity identity = resolve_identity("54321", "54322", "uid");
  CHECK(identity.uid == 54321u);
  CHECK(identity.gid == 54322u);
  CHECK(identity.user_name.empty());

  const Identity none = resolve_identity("", "", "uid");
  CHECK_FALSE(none.uid);
  CHECK_FALSE(none.gid);
}

TEST_CASE("an unknown user or group is refused, naming the option and the name") {
  CHECK_THROWS_WITH_AS(resolve_identity("no-such-user-ferry", "", "uid"),
                       "uid: there is no user 'no-such-user-ferry' on this system", StartupError);
  CHECK_THROWS_WITH_AS(resolve_identity("", "no-such-group-ferry", "gid"),
                       "gid: there is no group 'no-such-group-ferry' on this system", StartupError);
  // "12ab" is neither a name nor a number.
  CHECK_THROWS_AS(resolve_identity("12ab", "", "uid"), StartupError);
}

TEST_CASE("chown-socket = user[:group]") {
  const Identity both = resolve_owner("4001:4002");
  CHECK(both.uid == 4001u);
  CHECK(both.gid == 4002u);
  const Identity user_only = resolve_owner("4001");
  CHECK(user_only.uid == 4001u);
  CHECK_FALSE(user_only.gid);
  CHECK_THROWS_WITH_AS(resolve_owner("no-such-user-ferry:0"), doctest::Contains("chown-socket: there is no user"),
                       StartupError);
}

TEST_CASE("an empty identity drops nothing") { CHECK_NOTHROW(drop_privileges(Identity{})); }

TEST_CASE("dropping to another uid and gid sticks: root cannot be regained") {
  if (::geteuid() != 0) {
    MESSAGE("not root: nothing to drop (the refusal is the next case); skipped");
    return;
  }
  const int code = in_child([] {
    try {
      drop_privileges(Identity{.uid = 65534, .gid = 65534, .user_name = ""});
    } catch (const StartupError&) {
      return 10;
    }
    if (::getuid() != 65534 || ::geteuid() != 65534) return 12;
    if (::getgid() != 65534 || ::getegid() != 65534) return 13;
    if (::setuid(0) == 0) return 14;
    gid_t groups[4];
    if (::getgroups(4, groups) != 1 || groups[0] != 65534) return 15;
    return 0;
  });
  CHECK(code == 0);
}

TEST_CASE("once unprivileged, switching uid is refused with a StartupError that says why") {
  const int code = in_child([] {
    if (::getuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) return 20;
    try {
      drop_privileges(Identity{.uid = 4242, .gid = std::nullopt, .user_name = ""});
    } catch (const StartupError& error) {
      return std::string(error.what()).find("cannot switch to uid 4242") != std::string::npos ? 0 : 21;
    }
    return 22;
  });
  CHECK(code == 0);
}
