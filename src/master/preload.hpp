#pragma once

// preload: the app imported once in the master, before any worker is forked, and the
// descriptors Python held after importing it.

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "master/listeners.hpp"

namespace ferry::wsgi {
class App;
}

namespace ferry::master {

// Workers forked from the master keep `python_fds` (an open file, a database connection
// made at import), unlike the master's own descriptors.
struct Preloaded {
  std::unique_ptr<wsgi::App> app;  // nullptr when the import failed
  std::vector<int> python_fds;
  std::string error;  // the import failed: its exception line (quote_boot_failure), or ""
  Preloaded();
  Preloaded(Preloaded&&) noexcept;
  Preloaded& operator=(Preloaded&&) noexcept;
  ~Preloaded();
};

// Imports the app from config.chdir (the master's own directory is restored after) with
// config.env set. What the app prints goes to the log at `log_fd`, as a worker's output
// does. `reloading`: a re-executed master imports while the handed-over workers serve,
// so at a lower priority. Throws StartupError when chdir fails.
Preloaded preload_app(const config::Config& config, int log_fd, const std::vector<Listener>& listeners, bool reloading);

// run_master's preload step: preload_app, and when the import fails a line in the log (and
// on the terminal) that quotes the exception. A re-executed master (`reloading`) must not
// exit, since the handed-over workers would go down with it: a failed chdir is logged too.
Preloaded preload_in_master(const config::Config& config, int log_fd, const std::vector<Listener>& listeners,
                            bool reloading);

}  // namespace ferry::master
