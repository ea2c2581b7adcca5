#pragma once

// The GIL, taken and let go only through these two guards: nothing else in ferry calls
// PyGILState_*, PyEval_SaveThread or PyEval_RestoreThread.

#include <Python.h>

#include <utility>

namespace ferry::wsgi {

// Holds the GIL for its lifetime.
class GilHeld {
 public:
  // On a thread Python may not know (the worker's main thread at exit).
  GilHeld() : gil_state_(PyGILState_Ensure()) {}
  // As `thread`, a state this thread owns (a serving thread's): cheaper, one call each way.
  explicit GilHeld(PyThreadState* thread) : thread_(thread) { PyEval_RestoreThread(thread_); }
  ~GilHeld() {
    if (thread_ != nullptr) {
      PyEval_SaveThread();
    } else {
      PyGILState_Release(gil_state_);
    }
  }
  GilHeld(const GilHeld&) = delete;
  GilHeld& operator=(const GilHeld&) = delete;

 private:
  PyThreadState* thread_ = nullptr;
  PyGILState_STATE gil_state_{};
};

// Lets other threads run Python for its lifetime, while this one waits (on a socket, or
// for requests to start); the GIL is taken back when it ends.
class GilReleased {
 public:
  GilReleased() : thread_(PyEval_SaveThread()) {}
  ~GilReleased() {
    if (thread_ != nullptr) PyEval_RestoreThread(thread_);
  }
  GilReleased(const GilReleased&) = delete;
  GilReleased& operator=(const GilReleased&) = delete;

  // Hands the parked thread state to a GilHeld on this same thread, which then takes the
  // GIL as it (the loading thread's state becomes the first serving thread's); the GIL is
  // then not taken back when this guard ends.
  PyThreadState* hand_over() { return std::exchange(thread_, nullptr); }

 private:
  PyThreadState* thread_;
};

}  // namespace ferry::wsgi
