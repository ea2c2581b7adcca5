#pragma once

// The one door to Python. Nothing outside src/wsgi/ includes Python.h or pybind11, no
// PyObject crosses this header, and the GIL is taken in exactly two places: while loading
// (App::load / App::finish) and per request (RequestHandler::handle).

#include <memory>

#include "config/config.hpp"

namespace ferry::worker {
class Exchange;
}

namespace ferry::wsgi {

struct WorkerInfo {
  int id = 0;
  bool multithread = false;
  bool multiprocess = false;
};

// Serves requests on one thread. Made on, and used only by, that thread.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Called without the GIL; runs the app and writes the whole response to `exchange`.
  virtual void handle(worker::Exchange& exchange) = 0;
};

class App {
 public:
  // Starts the interpreter (Debian's libpython, or the virtualenv in `home`) and imports
  // the app. On failure, prints the traceback and the fix to stderr and returns nullptr.
  static std::unique_ptr<App> load(const config::Config& config, const WorkerInfo& info);
  ~App();

  // The loading thread lets go of the GIL so serving threads can take it per request.
  void begin_serving();
  std::unique_ptr<RequestHandler> make_handler();
  // Makes `signal` dump every Python thread's stack to stderr (faulthandler), even while a
  // thread is stuck holding the GIL. Call while loading, before begin_serving().
  bool enable_stack_dumps(int signal);
  // Runs atexit functions and flushes sys.stdout/sys.stderr before the worker exits.
  void finish();

  struct Impl;

 private:
  explicit App(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::wsgi
