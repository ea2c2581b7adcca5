#pragma once

// start_response, write() and the response iterable, written to the Connection.
// Headers wait for the first non-empty body chunk (or the end), so an app can still
// switch to an error response; they go out in the same writev as that chunk.

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/cgi.hpp"
#include "wsgi/python.hpp"

namespace ferry::wsgi {

class Connection;

class Response {
 public:
  // Creates the start_response callable bound to this object; GIL held. `file_wrapper` is
  // the wsgi.file_wrapper type, whose files go out with sendfile(2).
  void init(PyObject* file_wrapper);
  PyObject* start_response() const { return start_response_.get(); }

  void begin(Connection* connection);
  // Sends the body. False with a Python error set if the app's response is invalid or the
  // iterable raised; true when done, including when the client went away (logged once).
  bool send_body(PyObject* result);
  // Calls result.close() if it has one; logs an exception from it.
  void close_iterable(PyObject* result);
  bool headers_sent() const { return headers_sent_; }
  void end();

  // The Python-facing callables.
  PyObject* call_start_response(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames);
  PyObject* call_write(PyObject* data);

 private:
  // What one blocking call sends: `count` iovec parts, or (`file` >= 0) `length` bytes
  // of a regular file from `offset`, of which `sent` went out.
  struct Outgoing {
    const iovec* parts = nullptr;
    int count = 0;
    int file = -1;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t sent = 0;
  };
  // Writes to the connection with the GIL let go: the response's only blocking call.
  bool transmit(Outgoing& out);
  // Sends a body chunk, with the headers first if they have not gone out. An empty
  // chunk is skipped unless `headers_now`.
  bool send_chunk(const char* data, std::size_t size, bool headers_now = false);
  bool send_headers();
  bool send_bytes_like(PyObject* chunk);
  bool finish_headers();
  // After the last chunk: sends the head if no chunk did, and ends a response shorter
  // than its Content-Length.
  bool finish_body();
  // A list or tuple of bytes matching the head's length: the head and the whole body in
  // one writev. nullopt: not such a body (or the head is out), so it is pumped instead.
  std::optional<bool> send_whole(PyObject* result);
  // A write stopped without a Python error: the client went away, or the app sent more
  // than its Content-Length. Logs it once; false if a Python error is pending instead.
  bool stopped();
  // Sends a wsgi.file_wrapper's file with sendfile. nullopt: it has no real file
  // descriptor, iterate it instead; false: the client went away.
  std::optional<bool> send_wrapped_file(PyObject* wrapper);

  PyRef start_response_;
  PyRef write_;
  PyRef close_name_;
  PyObject* file_wrapper_ = nullptr;  // borrowed: App owns it
  Connection* connection_ = nullptr;
  std::string head_;          // status line + headers + blank line, latin-1
  std::vector<iovec> parts_;  // the list fast path's writev, reused
  bool started_ = false;
  bool headers_sent_ = false;
  bool stop_logged_ = false;
  bool length_exceeded_ = false;
  std::optional<std::uint64_t> declared_length_;  // the app's Content-Length, if any
};

}  // namespace ferry::wsgi
