// src/wsgi/response.cpp: start_response's validation and the bytes that reach the socket,
// over a string instead of a socket.

#include "wsgi/response.hpp"

#include <doctest/doctest.h>

#include <string>

#include "wsgi/connection.hpp"

using namespace ferry;

namespace {

// The connection src/wsgi/ writes to, over a string: what the app's response put on the wire.
class StringConnection final : public wsgi::Connection {
 public:
  explicit StringConnection(protocol::Packet& packet) : Connection(packet) {}
  long read_body(char*, std::size_t) override { return 0; }
  std::uint64_t body_left() const override { return 0; }
  void frame_head(std::string&, bool, std::optional<std::uint64_t>) override {}
  bool write(const iovec* parts, int count) override {
    for (int i = 0; i < count; ++i) wire.append(static_cast<const char*>(parts[i].iov_base), parts[i].iov_len);
    return true;
  }
  bool send_file(int, std::uint64_t, std::uint64_t, std::uint64_t& sent) override {
    sent = 0;
    return false;
  }
  void send_plain(int code) override { status = code; }
  void close_after_response() override {}
  std::string server_address() const override { return "localhost"; }

  std::string wire;
};

struct Fixture {
  protocol::Packet packet;
  StringConnection connection{packet};
  wsgi::Response response;

  Fixture() {
    response.init(nullptr);
    response.begin(&connection);
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

  std::string sent() const { return connection.wire; }

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
  CHECK(connection.status == 200);
  CHECK(connection.header_count == 2);
  CHECK(connection.body_bytes == 11);
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
