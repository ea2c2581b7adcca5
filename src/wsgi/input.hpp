#pragma once

// wsgi.input: a read-only binary stream over the request body. It never reads past
// CONTENT_LENGTH, so an app that calls read() cannot hang; it waits on the socket with the
// GIL released, and allocates for a large read as the bytes arrive, not as promised.
// Valid only during its request; afterwards reads raise.

#include <Python.h>

#include <cstdint>

namespace ferry::wsgi {

class Connection;

// Registers the type; call once, with the GIL, after the interpreter starts.
bool init_input_type();
PyObject* new_input(Connection* connection);
// post-buffering: reads the whole body now and returns a seekable stream over it, an
// io.BytesIO up to `memory_limit` bytes, else a file object over an unlinked temp file.
// nullptr with a Python error if the client vanished or the temp file failed.
PyObject* new_buffered_input(Connection* connection, std::uint64_t memory_limit);
// Detaches the stream from its finished request.
void close_input(PyObject* input);

}  // namespace ferry::wsgi
