#pragma once

// wsgi.input: a read-only binary stream over the request body. It never reads past
// CONTENT_LENGTH, so an app that calls read() cannot hang, and it waits on the socket
// with the GIL released. Valid only during its request; afterwards reads raise.

#include <Python.h>

namespace ferry::worker {
class Exchange;
}

namespace ferry::wsgi {

// Registers the type; call once, with the GIL, after the interpreter starts.
bool init_input_type();
PyObject* new_input(worker::Exchange* exchange);
// Detaches the stream from its finished request.
void close_input(PyObject* input);

}  // namespace ferry::wsgi
