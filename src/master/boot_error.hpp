#pragma once

// The one line the master quotes when a worker (or its own preload import) fails before it
// is ready, taken from what that process wrote meanwhile. Pure text handling, no I/O, so
// that "worker 1 could not load the app: ModuleNotFoundError: No module named 'nope'"
// names the cause in the master's own line, not only in a traceback far above it.

#include <string>
#include <string_view>

namespace ferry::master {

// kExitAppLoad: the exception line of the last Python traceback ("NameError: name 'x' is
// not defined"), with "(+N more lines)" when the message spans several lines; without a
// traceback, ferry's own complaint ("home = /venv: not a virtualenv ..."). Otherwise
// (kExitWorkerBoot and any other code): the last error line the process logged.
// "" when the output holds nothing to quote.
std::string quote_boot_failure(std::string_view output, int exit_code);

}  // namespace ferry::master
