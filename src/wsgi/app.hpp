#pragma once

// The one door to Python. Nothing outside src/wsgi/ includes Python.h or pybind11, and no
// PyObject crosses this header. The GIL is held while loading and per request
// (RequestHandler::handle), always through the guards in gil.hpp.

#include <memory>

#include "config/config.hpp"

namespace ferry::wsgi {

class Connection;

struct WorkerInfo {
  int id = 0;
  bool multithread = false;
  bool multiprocess = false;

  static WorkerInfo for_worker(const config::Config& config, int id) {
    return {id, config.threads > 1, config.processes > 1};
  }
};

// Serves requests on one thread. Made on, and used only by, that thread.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Called without the GIL; runs the app and writes the whole response to `connection`.
  virtual void handle(Connection& connection) = 0;
};

class App {
 public:
  // Starts the interpreter (Debian's libpython, or the virtualenv in `home`) and imports
  // the app. On failure, prints the traceback and the fix to stderr and returns nullptr.
  // With `preload`, the collector stays off while importing, so the imported objects are
  // not scattered between collections before before_fork() freezes them.
  static std::unique_ptr<App> load(const config::Config& config, const WorkerInfo& info, bool preload = false);
  ~App();

  // The loading thread lets go of the GIL so serving threads can take it per request.
  void begin_serving();
  std::unique_ptr<RequestHandler> make_handler();
  // Makes `signal` dump every Python thread's stack to stderr (faulthandler), even while a
  // thread is stuck holding the GIL. Call while loading, before begin_serving().
  bool enable_stack_dumps(int signal);
  // Runs atexit functions and flushes sys.stdout/sys.stderr before the worker exits.
  void finish();

  // preload: the master loads the app once (after begin_serving() it holds no GIL) and
  // forks every worker from it. These bracket each fork the way os.fork() does, so the
  // app's os.register_at_fork hooks run and no lock Python holds is copied mid-use:
  // before_fork() takes the GIL and freezes the heap (gc.freeze: forked pages stay shared
  // instead of being dirtied by the collector); after_fork_parent() gives the GIL back;
  // after_fork_child() readies the copy for worker `info.id`, which then calls
  // begin_serving() as a worker that loaded the app itself would.
  void before_fork();
  void after_fork_parent();
  void after_fork_child(const WorkerInfo& info);

  struct Impl;

 private:
  explicit App(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::wsgi
