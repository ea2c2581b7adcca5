// src/wsgi/input.cpp: wsgi.input over a connection that delivers the body in small pieces:
// read, readline, readlines and iteration never pass CONTENT_LENGTH; a vanished client is
// an OSError; a large read allocates as the bytes arrive; a stream used after its request
// raises; post-buffering gives a seekable BytesIO or an unlinked temp file.

#include "wsgi/input.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "wsgi/connection.hpp"
#include "wsgi/python.hpp"

using namespace ferry;
using wsgi::PyRef;

namespace {

// A body that arrives at most `piece` bytes per read, then (if `vanishes`) a client gone
// before CONTENT_LENGTH.
class PieceConnection final : public wsgi::Connection {
 public:
  PieceConnection(protocol::Packet& packet, std::string body, std::uint64_t content_length, std::size_t piece = 3)
      : Connection(packet), body_(std::move(body)), left_(content_length), piece_(piece) {}
  long read_body(char* dst, std::size_t n) override {
    largest_ask = std::max(largest_ask, n);
    if (left_ == 0 || n == 0) return 0;
    if (at_ == body_.size()) {
      client_gone = true;
      return -1;
    }
    const std::size_t take = std::min({n, piece_, body_.size() - at_, static_cast<std::size_t>(left_)});
    std::memcpy(dst, body_.data() + at_, take);
    at_ += take;
    left_ -= take;
    return static_cast<long>(take);
  }
  std::uint64_t body_left() const override { return left_; }
  void frame_head(std::string&, bool, std::optional<std::uint64_t>) override {}
  bool write(const iovec*, int) override { return true; }
  bool send_file(int, std::uint64_t, std::uint64_t, std::uint64_t& sent) override {
    sent = 0;
    return false;
  }
  void send_plain(int) override {}
  void close_after_response() override {}
  std::string server_address() const override { return "localhost"; }

  std::size_t largest_ask = 0;  // the biggest buffer read_body was handed

 private:
  std::string body_;
  std::size_t at_ = 0;
  std::uint64_t left_;
  std::size_t piece_;
};

// Evaluates `expression` with `stream` bound to the name `input`: its repr(), or
// "<ExceptionType: message>".
std::string eval(PyObject* stream, const char* expression) {
  PyRef globals(PyDict_New());
  PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
  PyDict_SetItemString(globals.get(), "input", stream);
  PyRef result(PyRun_String(expression, Py_eval_input, globals.get(), globals.get()));
  if (!result) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyRef text(PyObject_Str(value));
    const std::string out =
        std::string("<") + reinterpret_cast<PyTypeObject*>(type)->tp_name + ": " + PyUnicode_AsUTF8(text.get()) + ">";
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return out;
  }
  PyRef text(PyObject_Repr(result.get()));
  return PyUnicode_AsUTF8(text.get());
}

struct Stream {
  protocol::Packet packet;
  PieceConnection connection;
  PyRef input;
  Stream(std::string body, std::uint64_t length, std::size_t piece = 3)
      : connection(packet, std::move(body), length, piece) {
    REQUIRE(wsgi::init_input_type());
    input = PyRef(wsgi::new_input(&connection));
    REQUIRE(input);
  }
  ~Stream() { wsgi::close_input(input.get()); }
  std::string operator()(const char* expression) { return eval(input.get(), expression); }
};

}  // namespace

TEST_CASE("read(): the whole body, gathered across short reads, then b''") {
  Stream s("hello, world", 12);
  CHECK(s("input.read()") == "b'hello, world'");
  CHECK(s("input.read()") == "b''");
  CHECK(s("input.read(5)") == "b''");
}

TEST_CASE("read(n): exactly n bytes while the body lasts; never past CONTENT_LENGTH") {
  Stream s("abcdefgh-not-the-body", 8);
  CHECK(s("input.read(5)") == "b'abcde'");
  CHECK(s("input.read(0)") == "b''");
  CHECK(s("input.read(100)") == "b'fgh'");
  CHECK(s("input.read(None)") == "b''");
  CHECK(s("input.read(1, 2)").starts_with("<TypeError"));
}

TEST_CASE("readline, readlines and iteration split on b'\\n' and keep it") {
  Stream lines("one\ntwo\nthree", 13);
  CHECK(lines("input.readline()") == "b'one\\n'");
  CHECK(lines("input.readline(2)") == "b'tw'");
  CHECK(lines("input.readline()") == "b'o\\n'");
  CHECK(lines("input.read()") == "b'three'");  // what readline read ahead is not lost
  CHECK(lines("input.readline()") == "b''");

  Stream all("a\nb\nc\n", 6);
  CHECK(all("input.readlines()") == "[b'a\\n', b'b\\n', b'c\\n']");

  Stream iterated("x\ny", 3);
  CHECK(iterated("list(input)") == "[b'x\\n', b'y']");
}

TEST_CASE("a client that vanishes before CONTENT_LENGTH is an OSError, not a short body") {
  Stream s("only this", 100);
  CHECK(s("input.read()").starts_with("<OSError: the client disconnected"));
  CHECK(s.connection.client_gone);
}

TEST_CASE("a client that claims 2 GB and sends 3 bytes costs no 2 GB buffer") {
  Stream s("abc", std::uint64_t{2} << 30, 1 << 20);
  CHECK(s("input.read()").starts_with("<OSError"));
  CHECK(s.connection.largest_ask <= std::size_t{16} << 20);
}

TEST_CASE("a large body is read whole, in pieces") {
  const std::string body(3 * 1024 * 1024 + 17, 'z');
  Stream s(body, body.size(), 64 * 1024);
  CHECK(s("len(input.read())") == std::to_string(body.size()));
  CHECK(s.connection.largest_ask < body.size());
}

TEST_CASE("after its request the stream raises") {
  Stream s("late", 4);
  wsgi::close_input(s.input.get());
  CHECK(s("input.read()") == "<ValueError: wsgi.input was used after its request finished>");
}

TEST_CASE("post-buffering: a seekable BytesIO within the limit, an unlinked temp file beyond it") {
  protocol::Packet packet;
  PieceConnection small(packet, "buffered body", 13);
  PyRef memory(wsgi::new_buffered_input(&small, 100));
  REQUIRE(memory);
  CHECK(eval(memory.get(), "type(input).__name__") == "'BytesIO'");
  CHECK(eval(memory.get(), "input.read()") == "b'buffered body'");
  CHECK(eval(memory.get(), "input.seek(9)") == "9");
  CHECK(eval(memory.get(), "input.read()") == "b'body'");
  wsgi::close_input(memory.get());

  PieceConnection large(packet, "spilled to a file", 17);
  PyRef file(wsgi::new_buffered_input(&large, 4));
  REQUIRE(file);
  CHECK(eval(file.get(), "type(input).__name__") == "'BufferedReader'");
  CHECK(eval(file.get(), "input.read()") == "b'spilled to a file'");
  CHECK(eval(file.get(), "input.seek(0)") == "0");
  CHECK(eval(file.get(), "input.read(7)") == "b'spilled'");
  wsgi::close_input(file.get());

  PieceConnection gone(packet, "short", 50);
  PyRef none(wsgi::new_buffered_input(&gone, 100));
  CHECK_FALSE(none);
  PyErr_Clear();
}
