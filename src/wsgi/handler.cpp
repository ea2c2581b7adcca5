// One request through the WSGI app: environ from the uwsgi vars, start_response, the
// response iterable, close(). This is ferry's hot path: the GIL is taken once per request
// and let go only around socket writes; keys are interned once; a list or tuple body goes
// out with the status line and headers in a single writev.

#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <fmt/format.h>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/logging.hpp"
#include "wsgi/app_impl.hpp"
#include "wsgi/connection.hpp"
#include "wsgi/environ.hpp"
#include "wsgi/input.hpp"
#include "wsgi/response.hpp"

namespace ferry::wsgi {
namespace {

class Handler final : public RequestHandler {
 public:
  Handler(App::Impl& app, PyThreadState* thread) : app_(app), thread_(thread), environ_(app.environ_template.get()) {
    const GilHeld held(thread_);
    response_.emplace();
    response_->init(app.file_wrapper.get());
    environ_.init();
  }

  ~Handler() override {
    // The callables hold Python references: drop them with the GIL held.
    const GilHeld held(thread_);
    response_.reset();
  }

  void handle(Connection& connection) override {
    const GilHeld held(thread_);
    run(connection);
  }

 private:
  void run(Connection& connection) {
    const RequestFacts& facts = connection.facts;  // read once, by the worker
    connection.is_head = facts.method == "HEAD";
    const Route route = pick_app(facts);
    if (route.app == nullptr) {
      write_line(2, fmt::format("no app is mounted for {} {} (SCRIPT_NAME '{}'); answered 404", LogSafe{facts.method},
                                LogSafe{facts.uri}, LogSafe{facts.script_name}));
      answer(connection, 404);
      return;
    }
    connection.app_id = route.app->id;
    PyRef input(app_.post_buffering > 0 && connection.body_left() > 0
                    ? new_buffered_input(&connection, app_.post_buffering)
                    : new_input(&connection));
    PyRef environ(
        input ? environ_.build(connection.packet, input.get(), [&connection] { return connection.server_address(); })
              : nullptr);
    if (environ && route.rewrite && !rewrite_script_name(environ.get(), *route.app, facts.path_info)) environ = PyRef();
    if (!environ) {
      fail(connection, facts, "could not build the environ");
      return;
    }
    response_->begin(&connection);
    PyObject* call_args[] = {environ.get(), response_->start_response()};
    PyRef result(PyObject_Vectorcall(route.app->callable.get(), call_args, 2, nullptr));
    if (!result) {
      fail(connection, facts, "the app raised an exception");
    } else if (!response_->send_body(result.get())) {
      fail(connection, facts,
           response_->headers_sent() ? "the response failed after its headers were sent"
                                     : "the app's response is invalid");
    }
    if (result) response_->close_iterable(result.get());
    response_->end();
    close_input(input.get());
  }

  struct Route {
    const App::Impl::Mounted* app = nullptr;
    bool rewrite = false;  // manage-script-name: SCRIPT_NAME = mountpoint, PATH_INFO = the rest
  };

  // One app: always it. With mounts: by PATH_INFO prefix under manage-script-name (at a
  // '/' boundary, longest first), else by the SCRIPT_NAME nginx sends; the main app
  // (mountpoint "") takes the rest.
  Route pick_app(const RequestFacts& facts) const {
    const auto& apps = app_.apps;
    if (apps.size() == 1 && apps[0].mountpoint.empty()) return {&apps[0], false};
    for (const auto& app : apps) {
      if (app.mountpoint.empty()) return {&app, false};
      if (app_.manage_script_name) {
        const auto& path = facts.path_info;
        if (path.starts_with(app.mountpoint) &&
            (path.size() == app.mountpoint.size() || path[app.mountpoint.size()] == '/')) {
          return {&app, true};
        }
      } else if (facts.script_name == app.mountpoint) {
        return {&app, false};
      }
    }
    return {};
  }

  bool rewrite_script_name(PyObject* environ, const App::Impl::Mounted& app, std::string_view path_info) {
    const std::string_view rest = path_info.substr(app.mountpoint.size());
    PyRef path(PyUnicode_DecodeLatin1(rest.data(), static_cast<Py_ssize_t>(rest.size()), nullptr));
    return path && PyDict_SetItemString(environ, "SCRIPT_NAME", app.script_name.get()) == 0 &&
           PyDict_SetItemString(environ, "PATH_INFO", path.get()) == 0;
  }

  static void answer(Connection& connection, int status) {
    GilReleased unlocked;
    connection.send_plain(status);
  }

  // Logs the error with the request it belongs to; answers 500 if nothing was sent yet.
  void fail(Connection& connection, const RequestFacts& facts, const char* what) {
    connection.app_failed = true;
    write_line(2, fmt::format("error in {} {}: {}{}", LogSafe{facts.method}, LogSafe{facts.uri}, what,
                              PyErr_Occurred() ? "; traceback:" : ""));
    if (PyErr_Occurred()) PyErr_PrintEx(0);
    if (!response_->headers_sent()) answer(connection, 500);
  }

  App::Impl& app_;
  PyThreadState* thread_;
  EnvironBuilder environ_;
  std::optional<Response> response_;
};

}  // namespace

std::unique_ptr<RequestHandler> make_request_handler(App::Impl& app, PyThreadState* thread) {
  return std::make_unique<Handler>(app, thread);
}

}  // namespace ferry::wsgi
