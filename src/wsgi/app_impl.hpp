#pragma once

// Internal to src/wsgi/: what App owns once the interpreter runs.

#include "wsgi/app.hpp"
#include "wsgi/python.hpp"

namespace ferry::wsgi {

struct App::Impl {
  WorkerInfo info;
  PyRef application;      // the WSGI callable
  PyRef environ_template;  // the wsgi.* keys every environ starts with
  PyRef file_wrapper;      // ferry.FileWrapper, wsgi.file_wrapper
  PyThreadState* loader_thread = nullptr;  // the loading thread's state, parked while serving
};

std::unique_ptr<RequestHandler> make_request_handler(App::Impl& app, PyThreadState* thread);

}  // namespace ferry::wsgi
