#include "wsgi/input.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <memory>
#include <utility>
#include <vector>

#include "common/logging.hpp"
#include "common/temp_file.hpp"
#include "wsgi/connection.hpp"
#include "wsgi/python.hpp"

namespace ferry::wsgi {
namespace {

constexpr Py_ssize_t kChunk = 64 * 1024;
// A read() of more than this is not allocated up front: the body is gathered as it
// arrives, so a client that claims gigabytes and sends nothing costs nothing.
constexpr std::size_t kUpfront = 1024 * 1024;

struct Input {
  PyObject_HEAD Connection* connection;
  std::string* pending;  // read ahead by readline, handed out first; made on first use
};

PyTypeObject* input_type = nullptr;  // made by init_input_type()

constexpr const char* kClientGone = "the client disconnected or timed out before sending the whole request body";

bool check_open(Input* self) {
  if (self->connection != nullptr) return true;
  PyErr_SetString(PyExc_ValueError, "wsgi.input was used after its request finished");
  return false;
}

// Appends up to `n` body bytes to `out`; false (with OSError set) if the client vanished.
bool fill(Input* self, std::string& out, std::size_t n) {
  const std::size_t old = out.size();
  out.resize(old + n);
  long got;
  {
    const GilReleased unlocked;
    got = self->connection->read_body(out.data() + old, n);
  }
  if (got < 0) {
    out.resize(old);
    PyErr_SetString(PyExc_OSError, kClientGone);
    return false;
  }
  out.resize(old + static_cast<std::size_t>(got));
  return true;
}

std::string& pending(Input* self) {
  if (self->pending == nullptr) self->pending = new std::string();
  return *self->pending;
}

std::size_t available(Input* self) {
  return pending(self).size() + static_cast<std::size_t>(self->connection->body_left());
}

// read() of `want` > kUpfront bytes: gathered in pieces that double from kUpfront, each
// allocated only once the one before it is full, then copied into the bytes object.
PyObject* read_large(Input* self, std::size_t want) {
  struct Piece {
    std::unique_ptr<char[]> data;
    std::size_t size;
  };
  std::vector<Piece> pieces;
  std::string& ahead = pending(self);
  std::size_t have = std::min(want, ahead.size());
  std::size_t next = kUpfront;
  while (have < want) {
    const std::size_t size = std::min(next, want - have);
    Piece piece{std::make_unique_for_overwrite<char[]>(size), size};
    std::size_t got;
    {
      const GilReleased unlocked;
      got = self->connection->read_body_fully(piece.data.get(), size);
    }
    if (got < size) {
      PyErr_SetString(PyExc_OSError, kClientGone);
      return nullptr;
    }
    pieces.push_back(std::move(piece));
    have += size;
    next *= 2;
  }
  PyObject* bytes = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(want));
  if (bytes == nullptr) return nullptr;
  char* out = PyBytes_AS_STRING(bytes);
  const std::size_t from_ahead = std::min(want, ahead.size());
  std::memcpy(out, ahead.data(), from_ahead);
  ahead.erase(0, from_ahead);
  out += from_ahead;
  for (const Piece& piece : pieces) {
    std::memcpy(out, piece.data.get(), piece.size);
    out += piece.size;
  }
  return bytes;
}

// read(size=-1): exactly `size` bytes, or whatever is left of the body.
PyObject* input_read(Input* self, PyObject* const* args, Py_ssize_t nargs) {
  if (!check_open(self)) return nullptr;
  Py_ssize_t size = -1;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "read() takes at most one argument");
    return nullptr;
  }
  if (nargs == 1 && args[0] != Py_None) {
    size = PyLong_AsSsize_t(args[0]);
    if (size == -1 && PyErr_Occurred()) return nullptr;
  }
  const std::size_t left = available(self);
  const std::size_t want = size < 0 ? left : std::min(left, static_cast<std::size_t>(size));
  if (want > kUpfront) return read_large(self, want);
  // Straight into the bytes object: what readline read ahead first, then the socket.
  PyObject* bytes = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(want));
  if (bytes == nullptr) return nullptr;
  char* out = PyBytes_AS_STRING(bytes);
  std::string& ahead = pending(self);
  const std::size_t from_ahead = std::min(want, ahead.size());
  std::memcpy(out, ahead.data(), from_ahead);
  ahead.erase(0, from_ahead);
  std::size_t have = from_ahead;
  if (have < want) {
    const GilReleased unlocked;
    have += self->connection->read_body_fully(out + have, want - have);
  }
  if (have < want) {
    Py_DECREF(bytes);
    PyErr_SetString(PyExc_OSError, kClientGone);  // `want` never exceeds what CONTENT_LENGTH promised
    return nullptr;
  }
  return bytes;
}

// readline(limit=-1): up to and including b'\n', at most `limit` bytes.
PyObject* input_readline(Input* self, PyObject* const* args, Py_ssize_t nargs) {
  if (!check_open(self)) return nullptr;
  Py_ssize_t limit = -1;
  if (nargs >= 1 && args[0] != Py_None) {
    limit = PyLong_AsSsize_t(args[0]);
    if (limit == -1 && PyErr_Occurred()) return nullptr;
  }
  std::string& buf = pending(self);
  std::size_t scanned = 0;
  for (;;) {
    const auto newline = buf.find('\n', scanned);
    std::size_t take = newline == std::string::npos ? std::string::npos : newline + 1;
    if (limit >= 0 && (take == std::string::npos || take > static_cast<std::size_t>(limit)) &&
        buf.size() >= static_cast<std::size_t>(limit)) {
      take = static_cast<std::size_t>(limit);
    }
    if (take == std::string::npos && self->connection->body_left() == 0) take = buf.size();
    if (take != std::string::npos) {
      PyObject* line = PyBytes_FromStringAndSize(buf.data(), static_cast<Py_ssize_t>(take));
      buf.erase(0, take);
      return line;
    }
    scanned = buf.size();
    if (!fill(self, buf, static_cast<std::size_t>(kChunk))) return nullptr;
  }
}

PyObject* input_readlines(Input* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t hint = -1;
  if (nargs >= 1 && args[0] != Py_None) {
    hint = PyLong_AsSsize_t(args[0]);
    if (hint == -1 && PyErr_Occurred()) return nullptr;
  }
  PyRef lines(PyList_New(0));
  Py_ssize_t total = 0;
  for (;;) {
    PyRef line(input_readline(self, nullptr, 0));
    if (!line) return nullptr;
    if (PyBytes_GET_SIZE(line.get()) == 0) break;
    total += PyBytes_GET_SIZE(line.get());
    if (PyList_Append(lines.get(), line.get()) < 0) return nullptr;
    if (hint > 0 && total >= hint) break;
  }
  return lines.release();
}

PyObject* input_iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* input_next(PyObject* self) {
  PyObject* line = input_readline(reinterpret_cast<Input*>(self), nullptr, 0);
  if (line != nullptr && PyBytes_GET_SIZE(line) == 0) {
    Py_DECREF(line);
    return nullptr;  // StopIteration
  }
  return line;
}

void input_dealloc(PyObject* self) {
  delete reinterpret_cast<Input*>(self)->pending;
  PyTypeObject* type = Py_TYPE(self);
  PyObject_Free(self);
  Py_DECREF(type);  // instances of heap types own a reference to their type
}

PyMethodDef input_methods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_read)), METH_FASTCALL,
     "read(size=-1) -> bytes: up to size bytes of the request body; b'' at its end"},
    {"readline", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readline)), METH_FASTCALL,
     "readline(limit=-1) -> bytes: one line of the body"},
    {"readlines", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readlines)), METH_FASTCALL,
     "readlines(hint=-1) -> list of lines"},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

bool init_input_type() {
  PyType_Slot slots[] = {
      {Py_tp_doc, const_cast<char*>("wsgi.input: the request body")},
      {Py_tp_dealloc, reinterpret_cast<void*>(input_dealloc)},
      {Py_tp_iter, reinterpret_cast<void*>(input_iter)},
      {Py_tp_iternext, reinterpret_cast<void*>(input_next)},
      {Py_tp_methods, input_methods},
      {0, nullptr},
  };
  PyType_Spec spec = {"ferry.Input", sizeof(Input), 0, Py_TPFLAGS_DEFAULT, slots};
  input_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&spec));
  return input_type != nullptr;
}

PyObject* new_input(Connection* connection) {
  Input* self = PyObject_New(Input, input_type);
  if (self == nullptr) return nullptr;
  self->connection = connection;
  self->pending = nullptr;
  return reinterpret_cast<PyObject*>(self);
}

PyObject* new_buffered_input(Connection* connection, std::uint64_t memory_limit) {
  const std::uint64_t size = connection->body_left();
  PyRef io(PyImport_ImportModule("io"));
  if (!io) return nullptr;
  if (size <= memory_limit) {
    PyRef body(PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size)));
    if (!body) return nullptr;
    std::size_t have;
    {
      GilReleased unlocked;
      have = connection->read_body_fully(PyBytes_AS_STRING(body.get()), static_cast<std::size_t>(size));
    }
    if (have < size) {
      PyErr_SetString(PyExc_OSError, kClientGone);
      return nullptr;
    }
    return PyObject_CallMethod(io.get(), "BytesIO", "O", body.get());
  }
  const int fd = open_unlinked_temp_file();
  if (fd < 0) return PyErr_SetFromErrnoWithFilename(PyExc_OSError, temp_directory());
  bool ok = true;
  {
    GilReleased unlocked;
    char buffer[kChunk];
    long got;
    while ((got = connection->read_body(buffer, sizeof buffer)) > 0) {
      if (!write_fully(fd, std::string_view(buffer, static_cast<std::size_t>(got)))) {
        ok = false;
        break;
      }
    }
    ok = ok && got == 0 && ::lseek(fd, 0, SEEK_SET) == 0;
  }
  if (!ok) {
    ::close(fd);
    PyErr_SetString(PyExc_OSError, "could not spool the request body: the client vanished or the temp dir is full");
    return nullptr;
  }
  PyObject* file = PyObject_CallMethod(io.get(), "open", "isi", fd, "rb", -1);
  if (file == nullptr) ::close(fd);
  return file;
}

void close_input(PyObject* input) {
  if (Py_TYPE(input) != input_type) {
    // A post-buffering stream: close it to free its memory or temp file now.
    PyRef done(PyObject_CallMethod(input, "close", nullptr));
    if (!done) PyErr_Clear();
    return;
  }
  auto* self = reinterpret_cast<Input*>(input);
  self->connection = nullptr;
  delete std::exchange(self->pending, nullptr);
}

}  // namespace ferry::wsgi
