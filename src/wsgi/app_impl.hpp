#pragma once

// Internal to src/wsgi/: what App owns once the interpreter runs.

#include "wsgi/app.hpp"
#include "wsgi/python.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ferry::wsgi {

struct App::Impl {
  WorkerInfo info;
  struct Mounted {
    std::string mountpoint;  // "" for the main app
    PyRef callable;
    PyRef script_name;  // mountpoint as a str, for manage-script-name
    int id;             // position in config.apps(): "app: N" in the request log
  };
  std::vector<Mounted> apps;  // longest mountpoint first
  bool manage_script_name = false;
  std::uint64_t post_buffering = 0;
  PyRef environ_template;  // the wsgi.* keys every environ starts with
  PyRef file_wrapper;      // ferry.FileWrapper, wsgi.file_wrapper
  // The loading thread's state, parked (the GIL let go) from begin_serving() until the
  // first handler adopts it, or before_fork() takes the GIL back.
  std::optional<GilReleased> loader_parked;
};

// `thread`: the Python thread state the handler's thread runs the app as; the handler
// owns it.
std::unique_ptr<RequestHandler> make_request_handler(App::Impl& app, PyThreadState* thread);

}  // namespace ferry::wsgi
