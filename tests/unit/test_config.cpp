// src/config/config.hpp: the list of apps a Config loads, and how they are named in the log.

#include "config/config.hpp"

#include <doctest/doctest.h>

using ferry::config::AppSpec;
using ferry::config::Config;
using ferry::config::parse_app_target;

TEST_CASE("apps(): the main app first, then the mounts in order") {
  Config config;
  CHECK(config.apps().empty());
  CHECK(config.app_description().empty());

  config.module = "site.wsgi";
  config.mounts.push_back(parse_app_target("admin.wsgi:app", "/admin"));
  config.mounts.push_back(parse_app_target("/srv/api/main.py", "/api"));
  const auto apps = config.apps();
  REQUIRE(apps.size() == 3);
  CHECK(apps[0].mountpoint.empty());
  CHECK(apps[0].module == "site.wsgi");
  CHECK(apps[1].mountpoint == "/admin");
  CHECK(apps[2].wsgi_file == "/srv/api/main.py");
  CHECK(config.app_description() == "site.wsgi, /admin=admin.wsgi:app, /api=/srv/api/main.py");
}

TEST_CASE("apps(): a wsgi-file main app with its callable, or mounts alone") {
  Config config;
  config.wsgi_file = "hello.py";
  config.callable = "application2";
  CHECK(config.app_description() == "hello.py:application2");

  Config mounts_only;
  mounts_only.mounts.push_back(parse_app_target("blog.wsgi", "/blog"));
  REQUIRE(mounts_only.apps().size() == 1);
  CHECK(mounts_only.app_description() == "/blog=blog.wsgi");
}

TEST_CASE("parse_app_target tells a file from a module and splits the callable off") {
  const AppSpec module = parse_app_target("pkg.mod:make_app", "");
  CHECK(module.module == "pkg.mod");
  CHECK(module.wsgi_file.empty());
  CHECK(module.callable == "make_app");

  const AppSpec file = parse_app_target("app.py", "/x");
  CHECK(file.wsgi_file == "app.py");
  CHECK(file.module.empty());
  CHECK(file.callable.empty());

  // A colon inside a directory name is part of the path, not a callable.
  const AppSpec odd = parse_app_target("/srv/a:b/app.py", "");
  CHECK(odd.wsgi_file == "/srv/a:b/app.py");
  CHECK(odd.callable.empty());
}
