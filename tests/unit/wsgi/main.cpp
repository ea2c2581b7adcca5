// The main() of wsgi_unit_tests: starts Debian's embedded Python once, then runs the
// src/wsgi/ unit tests with the GIL held.

#define DOCTEST_CONFIG_IMPLEMENT
#include <Python.h>
#include <doctest/doctest.h>

#include "ferry_build_config.hpp"

int main(int argc, char** argv) {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;
  PyConfig_SetBytesString(&config, &config.executable, FERRY_PYTHON_EXECUTABLE);
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);
  doctest::Context context(argc, argv);
  const int result = context.run();
  Py_FinalizeEx();
  return result;
}
