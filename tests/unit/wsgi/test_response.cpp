// src/wsgi/response.cpp: start_response's validation and the bytes that reach the socket,
// over a socketpair instead of nginx.

#include "wsgi/response.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <string>

#include "common/unique_fd.hpp"
#include "worker/exchange.hpp"

using namespace ferry;

namespace {

struct Fixture {
  UniqueFd ours, theirs;
  protocol::Packet packet;
  worker::Exchange exchange;
  wsgi::Response response;

  Fixture() : exchange(make_pair(), 1000, packet) {
    response.init(nullptr);
    response.begin(&exchange);
  }

  int make_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    ours.reset(fds[0]);
    theirs.reset(fds[1]);
    return fds[0];
  }

  // Calls start_response(status, headers) given as Python source; returns the error's
  // message, or "" when it succeeded.
  std::string start(const char* status, const char* headers) {
    wsgi::PyRef args(
        PyRun_String((std::string("(") + status + ", " + headers + ")").c_str(), Py_eval_input, globals(), globals()));
    REQUIRE(args);
    wsgi::PyRef result(PyObject_Call(response.start_response(), args.get(), nullptr));
    if (result) return "";
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    wsgi::PyRef text(PyObject_Str(value));
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return PyUnicode_AsUTF8(text.get());
  }

  std::string sent() {
    ::shutdown(ours.get(), SHUT_WR);
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(theirs.get(), buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
    return out;
  }

  static PyObject* globals() {
    static PyObject* g = [] {
      PyObject* d = PyDict_New();
      PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins());
      return d;
    }();
    return g;
  }
};

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE_FIXTURE(Fixture, "a valid response goes out as HTTP/1.1, head and body in order") {
  CHECK(start("'200 OK'", "[('Content-Type', 'text/plain'), ('X-A', 'b')]") == "");
  wsgi::PyRef body(PyRun_String("[b'hello ', b'', b'world']", Py_eval_input, globals(), globals()));
  CHECK(response.send_body(body.get()));
  CHECK(exchange.status == 200);
  CHECK(exchange.header_count == 2);
  CHECK(exchange.body_bytes == 11);
  CHECK(sent() == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: b\r\n\r\nhello world");
}

TEST_CASE_FIXTURE(Fixture, "the status must be 'NNN reason'") {
  CHECK(contains(start("'200'", "[]"), "must look like '200 OK'"));
  CHECK(contains(start("'OK 200'", "[]"), "must look like '200 OK'"));
  CHECK(contains(start("'2000 X'", "[]"), "must look like '200 OK'"));
  CHECK(contains(start("'200 OK\\r\\nX: y'", "[]"), "must look like '200 OK'"));
  CHECK(contains(start("b'200 OK'", "[]"), "must be a str"));
}

TEST_CASE_FIXTURE(Fixture, "headers: (str, str) tuples, latin-1, no control characters, no hop-by-hop") {
  CHECK(contains(start("'200 OK'", "[('A', 'b', 'c')]"), "(name, value) tuple"));
  CHECK(contains(start("'200 OK'", "[['A', 'b']]"), "(name, value) tuple"));
  CHECK(contains(start("'200 OK'", "[('A', 1)]"), "must be a str"));
  CHECK(contains(start("'200 OK'", "[('A', '\\u20ac')]"), "latin-1"));
  CHECK(contains(start("'200 OK'", "[('A', 'b\\r\\nSet-Cookie: x=1')]"), "split the response"));
  CHECK(contains(start("'200 OK'", "[('A', 'b\\x00')]"), "split the response"));
  CHECK(contains(start("'200 OK'", "[('Bad Name', 'b')]"), "invalid name"));
  CHECK(contains(start("'200 OK'", "[('Transfer-Encoding', 'chunked')]"), "hop-by-hop"));
  CHECK(contains(start("'200 OK'", "[('connection', 'close')]"), "hop-by-hop"));
  CHECK(contains(start("'200 OK'", "[('Content-Length', 'ten')]"), "Content-Length must be a number"));
  CHECK(start("'200 OK'", "[('Content-Length', '10')]") == "");
}

TEST_CASE_FIXTURE(Fixture, "a second call needs exc_info; before the headers go out it replaces them") {
  CHECK(start("'200 OK'", "[]") == "");
  CHECK(contains(start("'500 Oops'", "[]"), "called twice without exc_info"));
  wsgi::PyRef args(
      PyRun_String("('503 Busy', [], (ValueError, ValueError('x'), None))", Py_eval_input, globals(), globals()));
  wsgi::PyRef result(PyObject_Call(response.start_response(), args.get(), nullptr));
  CHECK(result);
  wsgi::PyRef empty(PyRun_String("[]", Py_eval_input, globals(), globals()));
  CHECK(response.send_body(empty.get()));
  CHECK(sent() == "HTTP/1.1 503 Busy\r\n\r\n");
}

TEST_CASE_FIXTURE(Fixture, "a str body chunk is an error, not a silent encoding") {
  CHECK(start("'200 OK'", "[]") == "");
  wsgi::PyRef body(PyRun_String("iter(['text'])", Py_eval_input, globals(), globals()));
  CHECK_FALSE(response.send_body(body.get()));
  CHECK(PyErr_ExceptionMatches(PyExc_TypeError));
  PyErr_Clear();
  CHECK_FALSE(response.headers_sent());
}

TEST_CASE_FIXTURE(Fixture, "more bytes than Content-Length are cut at the declared length") {
  CHECK(start("'200 OK'", "[('Content-Length', '3')]") == "");
  wsgi::PyRef body(PyRun_String("[b'ab', b'cdef']", Py_eval_input, globals(), globals()));
  CHECK(response.send_body(body.get()));
  CHECK(sent() == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
}
