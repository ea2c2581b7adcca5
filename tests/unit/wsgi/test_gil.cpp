// src/wsgi/gil.hpp: the two GIL guards. GilReleased lets another thread run Python while
// this one waits and takes the GIL back at its end; GilHeld takes it on a thread Python
// does not know yet, or as a thread state the thread owns. main() holds the GIL.

#include "wsgi/gil.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

using ferry::wsgi::GilHeld;
using ferry::wsgi::GilReleased;

namespace {

long python_counter() {
  PyObject* main = PyImport_AddModule("__main__");  // borrowed
  PyObject* value = PyObject_GetAttrString(main, "gil_counter");
  if (value == nullptr) {
    PyErr_Clear();
    return -1;
  }
  const long n = PyLong_AsLong(value);
  Py_DECREF(value);
  return n;
}

}  // namespace

TEST_CASE("GilReleased: another thread runs Python meanwhile; the GIL is back at its end") {
  REQUIRE(PyGILState_Check() == 1);
  PyRun_SimpleString("gil_counter = 0");
  {
    const GilReleased released;
    CHECK(PyGILState_Check() == 0);
    std::thread other([] {
      const GilHeld held;  // a thread Python has never seen
      CHECK(PyGILState_Check() == 1);
      PyRun_SimpleString("gil_counter += 1");
    });
    other.join();
  }
  CHECK(PyGILState_Check() == 1);
  CHECK(python_counter() == 1);
}

TEST_CASE("GilHeld waits while another thread holds the GIL") {
  std::atomic<bool> ran{false};
  std::thread other([&] {
    const GilHeld held;
    ran = true;
  });
  // This thread holds the GIL and runs no bytecode, so it never hands it over by itself.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(ran.load());
  {
    const GilReleased released;
    other.join();
  }
  CHECK(ran.load());
}

TEST_CASE("GilHeld(thread state): a serving thread's own state, one call each way") {
  PyRun_SimpleString("gil_counter = 10");
  {
    const GilReleased released;
    std::thread serving([] {
      // A serving thread's state, made once; it stays for the interpreter's life, as theirs do.
      PyThreadState* state = PyThreadState_New(PyInterpreterState_Main());
      for (int request = 0; request < 3; ++request) {
        const GilHeld held(state);
        CHECK(PyThreadState_Get() == state);
        PyRun_SimpleString("gil_counter += 1");
      }
    });
    serving.join();
  }
  CHECK(python_counter() == 13);
}
