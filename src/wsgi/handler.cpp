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
#include "worker/exchange.hpp"
#include "wsgi/app_impl.hpp"
#include "wsgi/environ.hpp"
#include "wsgi/input.hpp"
#include "wsgi/response.hpp"

namespace ferry::wsgi {
namespace {

constexpr std::string_view kInternalError =
    "HTTP/1.1 500 Internal Server Error\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 22\r\n"
    "\r\n"
    "Internal Server Error\n";

class Handler final : public RequestHandler {
 public:
  Handler(App::Impl& app, PyThreadState* thread) : app_(app), thread_(thread), environ_(app.environ_template.get()) {
    PyEval_RestoreThread(thread_);
    response_.emplace();
    response_->init(app.file_wrapper.get());
    environ_.init();
    PyEval_SaveThread();
  }

  ~Handler() override {
    // The callables hold Python references: drop them with the GIL held.
    PyEval_RestoreThread(thread_);
    response_.reset();
    PyEval_SaveThread();
  }

  void handle(worker::Exchange& exchange) override {
    PyEval_RestoreThread(thread_);
    run(exchange);
    PyEval_SaveThread();
  }

 private:
  void run(worker::Exchange& exchange) {
    const RequestFacts facts = request_facts(exchange.packet);
    exchange.is_head = facts.method == "HEAD";
    PyRef input(new_input(&exchange));
    PyRef environ(input ? environ_.build(exchange.packet, input.get()) : nullptr);
    if (!environ) {
      fail(exchange, facts, "could not build the environ");
      return;
    }
    response_->begin(&exchange);
    PyObject* call_args[] = {environ.get(), response_->start_response()};
    PyRef result(PyObject_Vectorcall(app_.application.get(), call_args, 2, nullptr));
    if (!result) {
      fail(exchange, facts, "the app raised an exception");
    } else if (!response_->send_body(result.get(), facts)) {
      fail(exchange, facts, response_->headers_sent() ? "the response failed after its headers were sent"
                                                     : "the app's response is invalid");
    }
    if (result) response_->close_iterable(result.get(), facts);
    response_->end();
    close_input(input.get());
  }

  // Logs the error with the request it belongs to; answers 500 if nothing was sent yet.
  void fail(worker::Exchange& exchange, const RequestFacts& facts, const char* what) {
    write_line(2, fmt::format("error in {} {}: {}{}", facts.method, facts.uri, what,
                         PyErr_Occurred() ? "; traceback:" : ""));
    if (PyErr_Occurred()) PyErr_PrintEx(0);
    if (!response_->headers_sent()) {
      exchange.status = 500;
      exchange.header_count = 2;
      exchange.header_bytes = kInternalError.size() - 22;
      exchange.body_bytes = 22;
      GilReleased unlocked;
      exchange.write(kInternalError);
    }
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
