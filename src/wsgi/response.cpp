#include "wsgi/response.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <strings.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <fmt/format.h>
#include <optional>
#include <utility>
#include <vector>

#include "common/logging.hpp"
#include "wsgi/connection.hpp"

namespace ferry::wsgi {
namespace {

constexpr const char* kCapsuleName = "ferry.response";

Response* self_of(PyObject* capsule) { return static_cast<Response*>(PyCapsule_GetPointer(capsule, kCapsuleName)); }

PyObject* start_response_entry(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return self_of(self)->call_start_response(args, nargs, kwnames);
}

PyObject* write_entry(PyObject* self, PyObject* data) { return self_of(self)->call_write(data); }

PyMethodDef start_response_def = {
    "start_response", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(start_response_entry)),
    METH_FASTCALL | METH_KEYWORDS, "start_response(status, response_headers, exc_info=None) -> write"};
PyMethodDef write_def = {"write", write_entry, METH_O, "write(data): send bytes now (legacy WSGI API)"};

// The str's latin-1 bytes, without copying; false with an error naming `what`.
bool latin1_view(PyObject* s, std::string_view& out, const char* what) {
  if (!PyUnicode_Check(s)) {
    PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", what, Py_TYPE(s)->tp_name);
    return false;
  }
  if (PyUnicode_READY(s) != 0) return false;
  if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
    PyErr_Format(PyExc_ValueError, "%s %R is not encodable as latin-1 (PEP 3333)", what, s);
    return false;
  }
  out = {reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(s)), static_cast<std::size_t>(PyUnicode_GET_LENGTH(s))};
  return true;
}

// CR or LF would let a header value start a new header (response splitting).
bool has_control(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// PEP 3333: hop-by-hop headers belong to the server, and an app's Transfer-Encoding or
// Connection would corrupt the framing nginx relies on.
bool is_hop_by_hop(std::string_view name) {
  for (std::string_view hop : {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                               "trailers", "transfer-encoding", "upgrade"}) {
    if (equals_ignoring_case(name, hop)) return true;
  }
  return false;
}

std::optional<std::uint64_t> parse_length(std::string_view value) {
  std::uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
  return n;
}

// Clients that vanished mid-response, in this worker: counted, logged once each, never
// raised into the app.
std::atomic<std::uint64_t> clients_gone{0};

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 32 || c >= 127 || c == ':') return false;
  }
  return true;
}

// The body's chunks in order, whatever the app returned: a bytes object is one chunk, a
// list's or tuple's items are read in place, anything else is iterated.
class BodyChunks {
 public:
  explicit BodyChunks(PyObject* body) : body_(body) {
    if (PyBytes_Check(body)) {
      kind_ = Kind::one;
    } else if (PyList_CheckExact(body) || PyTuple_CheckExact(body)) {
      kind_ = Kind::items;
    } else {
      kind_ = Kind::iterator;
      iterator_ = PyRef(PyObject_GetIter(body));
    }
  }
  // False with a Python error: the body is not iterable.
  bool ok() const { return kind_ != Kind::iterator || iterator_; }
  // The next chunk (valid until the next call), or nullptr at the end or on an error
  // (PyErr_Occurred() tells which).
  PyObject* next() {
    switch (kind_) {
      case Kind::one: return std::exchange(done_, true) ? nullptr : body_;
      case Kind::items:
        return index_ < PySequence_Fast_GET_SIZE(body_) ? PySequence_Fast_GET_ITEM(body_, index_++) : nullptr;
      case Kind::iterator: current_ = PyRef(PyIter_Next(iterator_.get())); return current_.get();
    }
    return nullptr;
  }

 private:
  enum class Kind { one, items, iterator };
  PyObject* body_;
  Kind kind_;
  bool done_ = false;
  Py_ssize_t index_ = 0;
  PyRef iterator_;
  PyRef current_;
};

}  // namespace

void Response::init(PyObject* file_wrapper) {
  file_wrapper_ = file_wrapper;
  PyRef capsule(PyCapsule_New(this, kCapsuleName, nullptr));
  start_response_ = PyRef(PyCFunction_New(&start_response_def, capsule.get()));
  write_ = PyRef(PyCFunction_New(&write_def, capsule.get()));
  close_name_ = PyRef(PyUnicode_InternFromString("close"));
}

void Response::begin(Connection* connection) {
  connection_ = connection;
  head_.clear();
  started_ = headers_sent_ = stop_logged_ = length_exceeded_ = false;
  declared_length_.reset();
}

void Response::end() { connection_ = nullptr; }

PyObject* Response::call_start_response(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* status = nargs > 0 ? args[0] : nullptr;
  PyObject* headers = nargs > 1 ? args[1] : nullptr;
  PyObject* exc_info = nargs > 2 ? args[2] : nullptr;
  for (Py_ssize_t i = 0; kwnames != nullptr && i < PyTuple_GET_SIZE(kwnames); ++i) {
    std::string_view name;
    if (!latin1_view(PyTuple_GET_ITEM(kwnames, i), name, "keyword")) return nullptr;
    PyObject* value = args[nargs + i];
    if (name == "status")
      status = value;
    else if (name == "response_headers" || name == "headers")
      headers = value;
    else if (name == "exc_info")
      exc_info = value;
    else
      return PyErr_Format(PyExc_TypeError, "start_response() got an unexpected keyword argument '%U'",
                          PyTuple_GET_ITEM(kwnames, i));
  }
  if (connection_ == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "start_response() called outside of its request");
    return nullptr;
  }
  if (status == nullptr || headers == nullptr) {
    PyErr_SetString(PyExc_TypeError, "start_response() needs status and response_headers");
    return nullptr;
  }
  const bool has_exc_info = exc_info != nullptr && exc_info != Py_None;
  if (has_exc_info && headers_sent_) {
    // PEP 3333: too late to change the response; re-raise the app's exception.
    PyObject *type, *value, *tb;
    if (!PyArg_ParseTuple(exc_info, "OOO", &type, &value, &tb)) return nullptr;
    Py_INCREF(type);
    Py_INCREF(value);
    Py_INCREF(tb);
    PyErr_Restore(type, value, tb);
    return nullptr;
  }
  if (started_ && !has_exc_info) {
    PyErr_SetString(PyExc_RuntimeError, "start_response() called twice without exc_info");
    return nullptr;
  }

  std::string_view status_text;
  if (!latin1_view(status, status_text, "the status")) return nullptr;
  if (status_text.size() < 4 || !std::isdigit(static_cast<unsigned char>(status_text[0])) ||
      !std::isdigit(static_cast<unsigned char>(status_text[1])) ||
      !std::isdigit(static_cast<unsigned char>(status_text[2])) || status_text[3] != ' ' || has_control(status_text)) {
    return PyErr_Format(PyExc_ValueError, "the status must look like '200 OK', got %R", status);
  }
  if (status_text[0] == '1') {
    // A 1xx is never a final response: ferry sends "100 Continue" itself, and after a
    // "101 Switching Protocols" the connection would no longer be HTTP, which a WSGI app
    // cannot then speak.
    return PyErr_Format(PyExc_ValueError,
                        "a WSGI response cannot have a 1xx status, got %R (protocol switches "
                        "such as websockets are not supported)",
                        status);
  }
  if (!PyList_Check(headers)) {
    return PyErr_Format(PyExc_TypeError,
                        "response_headers must be a list of (name, value) tuples (PEP 3333), "
                        "not %.100s",
                        Py_TYPE(headers)->tp_name);
  }
  PyRef items(PySequence_Fast(headers, ""));
  if (!items) return nullptr;

  // Built in place: head_ keeps its capacity from request to request.
  started_ = false;
  declared_length_.reset();
  std::string& head = head_;
  head.assign("HTTP/1.1 ", 9);
  head += status_text;
  head.append("\r\n", 2);
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(items.get());
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(items.get(), i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      return PyErr_Format(PyExc_TypeError, "response header %R must be a (name, value) tuple", item);
    }
    std::string_view name, value;
    if (!latin1_view(PyTuple_GET_ITEM(item, 0), name, "a header name") ||
        !latin1_view(PyTuple_GET_ITEM(item, 1), value, "a header value")) {
      return nullptr;
    }
    if (!is_token(name) || has_control(value)) {
      return PyErr_Format(PyExc_ValueError,
                          "response header %R has a control character or an invalid name "
                          "(this would split the response)",
                          item);
    }
    if (is_hop_by_hop(name)) {
      return PyErr_Format(PyExc_ValueError,
                          "response header %R is hop-by-hop (PEP 3333): the server handles the connection "
                          "and the framing; remove it",
                          item);
    }
    if (equals_ignoring_case(name, "content-length")) {
      declared_length_ = parse_length(value);
      if (!declared_length_) {
        return PyErr_Format(PyExc_ValueError, "response header %R: Content-Length must be a number of bytes", item);
      }
    }
    // Lengths spelled out: these run per header, and strlen showed in the profile.
    head += name;
    head.append(": ", 2);
    head += value;
    head.append("\r\n", 2);
  }
  head.append("\r\n", 2);
  started_ = true;
  connection_->status = (status_text[0] - '0') * 100 + (status_text[1] - '0') * 10 + (status_text[2] - '0');
  connection_->header_count = static_cast<std::uint32_t>(count);
  Py_INCREF(write_.get());
  return write_.get();
}

bool Response::finish_headers() {
  if (started_) return true;
  PyErr_SetString(PyExc_RuntimeError, "the app returned a body without calling start_response()");
  return false;
}

bool Response::transmit(Outgoing& out) {
  // Every byte of the response leaves through here, and only here does the request wait
  // on the client: the GIL is let go for exactly the blocking call.
  const GilReleased unlocked;
  if (out.file >= 0) return connection_->send_file(out.file, out.offset, out.length, out.sent);
  return connection_->write(out.parts, out.count);
}

bool Response::send_headers() { return headers_sent_ || send_chunk(nullptr, 0, true); }

bool Response::send_chunk(const char* data, std::size_t size, bool headers_now) {
  // An empty chunk sends nothing, not even the headers: the app may still fail and get
  // a 500, or call start_response again with exc_info.
  if (size == 0 && !headers_now) return true;
  if (!headers_sent_ && !finish_headers()) return false;
  if (declared_length_ && !connection_->is_head && connection_->body_bytes + size > *declared_length_) {
    // Never send past the declared length: nginx would take the excess as garbage.
    size = static_cast<std::size_t>(*declared_length_ - connection_->body_bytes);
    length_exceeded_ = true;
  }
  iovec parts[2];
  int count = 0;
  if (!headers_sent_) {
    connection_->frame_head(head_, declared_length_.has_value(), std::nullopt);
    parts[count++] = {head_.data(), head_.size()};
    connection_->header_bytes = head_.size();
    headers_sent_ = true;
  }
  if (size > 0 && !connection_->is_head) {
    parts[count++] = {const_cast<char*>(data), size};
    connection_->body_bytes += size;
  }
  if (count == 0) return true;
  Outgoing out{.parts = parts, .count = count};
  return transmit(out) && !length_exceeded_;
}

bool Response::send_bytes_like(PyObject* chunk) {
  if (PyBytes_Check(chunk)) {
    return send_chunk(PyBytes_AS_STRING(chunk), static_cast<std::size_t>(PyBytes_GET_SIZE(chunk)));
  }
  if (PyUnicode_Check(chunk)) {
    PyErr_SetString(PyExc_TypeError, "the response body yielded a str; WSGI bodies are bytes: encode it");
    return false;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) != 0) {
    PyErr_Format(PyExc_TypeError, "the response body yielded a %.100s; WSGI bodies are bytes", Py_TYPE(chunk)->tp_name);
    return false;
  }
  const bool ok = send_chunk(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
  PyBuffer_Release(&view);
  return ok;
}

PyObject* Response::call_write(PyObject* data) {
  if (connection_ == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "write() called outside of its request");
    return nullptr;
  }
  // A vanished client is logged once and otherwise ignored, as for returned bodies: the
  // app is not handed an OSError for it.
  if (!send_bytes_like(data) && !stopped()) return nullptr;
  Py_RETURN_NONE;
}

bool Response::stopped() {
  const auto& facts = connection_->facts;
  if (PyErr_Occurred()) return false;
  if (length_exceeded_) {
    if (!stop_logged_) {
      write_line(2, fmt::format("{} {}: the app sent more than its Content-Length ({} bytes); cut the response "
                                "there",
                                LogSafe{facts.method}, LogSafe{facts.uri}, *declared_length_));
    }
  } else if (!stop_logged_) {
    write_line(2, fmt::format("client went away during {} {} after {} body bytes; response stopped ({} so far "
                              "in this worker)",
                              LogSafe{facts.method}, LogSafe{facts.uri}, connection_->body_bytes, ++clients_gone));
  }
  stop_logged_ = true;
  return true;
}

bool Response::send_body(PyObject* result) {
  // The pump: each chunk the body yields is written before the next is asked for. Two
  // shortcuts send the same bytes in fewer calls: a file_wrapper's file goes out with
  // sendfile, and a list or tuple of bytes in one writev with the head.
  if (Py_TYPE(result) == reinterpret_cast<PyTypeObject*>(file_wrapper_)) {
    const std::optional<bool> sent = send_wrapped_file(result);
    if (PyErr_Occurred()) return false;
    if (sent && !*sent) return stopped();
    if (sent) return finish_body();
  }
  if (const std::optional<bool> sent = send_whole(result)) return *sent;
  BodyChunks chunks(result);
  if (!chunks.ok()) return false;
  while (PyObject* chunk = chunks.next()) {
    if (!send_bytes_like(chunk)) return stopped();
  }
  if (PyErr_Occurred()) return false;
  return finish_body();
}

bool Response::finish_body() {
  if (!send_headers()) return stopped();
  if (declared_length_ && !connection_->is_head && connection_->body_bytes < *declared_length_) {
    connection_->close_after_response();
    const auto& facts = connection_->facts;
    write_line(2, fmt::format("{} {}: the app sent {} bytes but its Content-Length says {}; the connection is "
                              "closed so nginx sees the response as truncated",
                              LogSafe{facts.method}, LogSafe{facts.uri}, connection_->body_bytes, *declared_length_));
  }
  return true;
}

std::optional<bool> Response::send_whole(PyObject* result) {
  // Django's case, and most frameworks': every chunk is known now.
  if (headers_sent_ || !(PyList_CheckExact(result) || PyTuple_CheckExact(result))) return std::nullopt;
  PyObject** items = PySequence_Fast_ITEMS(result);
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
  std::uint64_t total = 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!PyBytes_Check(items[i])) return std::nullopt;
    total += static_cast<std::uint64_t>(PyBytes_GET_SIZE(items[i]));
  }
  // A length mismatch takes the chunk-by-chunk path, which cuts and logs it.
  if (declared_length_ && !connection_->is_head && total != *declared_length_) return std::nullopt;
  if (!finish_headers()) return false;
  connection_->frame_head(head_, declared_length_.has_value(), total);
  auto& parts = parts_;
  parts.clear();
  parts.push_back({head_.data(), head_.size()});
  for (Py_ssize_t i = 0; i < n && !connection_->is_head; ++i) {
    const auto size = static_cast<std::size_t>(PyBytes_GET_SIZE(items[i]));
    if (size == 0) continue;
    parts.push_back({PyBytes_AS_STRING(items[i]), size});
    connection_->body_bytes += size;
  }
  connection_->header_bytes = head_.size();
  headers_sent_ = true;
  Outgoing out{.parts = parts.data(), .count = static_cast<int>(parts.size())};
  if (!transmit(out)) stopped();
  return true;
}

std::optional<bool> Response::send_wrapped_file(PyObject* wrapper) {
  PyRef filelike(PyObject_GetAttrString(wrapper, "filelike"));
  if (!filelike) return false;
  PyRef fileno(PyObject_CallMethod(filelike.get(), "fileno", nullptr));
  const int fd = fileno ? static_cast<int>(PyLong_AsLong(fileno.get())) : -1;
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    PyErr_Clear();  // io.BytesIO and friends: no descriptor, so the wrapper is iterated
    return std::nullopt;
  }
  // From where the app left the file: Python's buffered position, not the descriptor's,
  // which read-ahead may have moved.
  std::uint64_t offset;
  if (PyRef tell{PyObject_CallMethod(filelike.get(), "tell", nullptr)}) {
    offset = PyLong_AsUnsignedLongLong(tell.get());
  } else {
    PyErr_Clear();
    offset = static_cast<std::uint64_t>(::lseek(fd, 0, SEEK_CUR));
  }
  if (PyErr_Occurred()) return false;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t count = size > offset ? size - offset : 0;
  if (declared_length_) count = std::min(count, *declared_length_ - connection_->body_bytes);
  if (!send_headers()) return false;
  if (connection_->is_head || count == 0) return true;
  Outgoing out{.file = fd, .offset = offset, .length = count};
  const bool ok = transmit(out);
  connection_->body_bytes += out.sent;
  return ok;
}

void Response::close_iterable(PyObject* result) {
  const auto& facts = connection_->facts;
  if (PyBytes_Check(result) || PyList_CheckExact(result) || PyTuple_CheckExact(result)) return;
  PyRef method(PyObject_GetAttr(result, close_name_.get()));
  if (!method) {
    // No close() (an AttributeError), or a broken attribute: either way nothing to call.
    PyErr_Clear();
    return;
  }
  PyRef done(PyObject_CallNoArgs(method.get()));
  if (!done) {
    write_line(2, fmt::format("error in {} {}: the response's close() raised; traceback:", LogSafe{facts.method},
                              LogSafe{facts.uri}));
    PyErr_PrintEx(0);
  }
}

}  // namespace ferry::wsgi
