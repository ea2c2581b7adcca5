#pragma once

// log-encoder = json: a line of the log that is not a request line (ferry's own, what the
// app prints, a traceback line) as one JSON object, so a log shipper needs no regex:
//   {"time":"2026-12-07T11:00:00.123","level":"info","source":"master","pid":812,"msg":"..."}
// ferry's own lines ("2026-12-07 11:00:00.123 master[812] info: ...") keep their time, level
// and source; anything else gets the time now, level "output" and the worker it came from.
// Pure.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

namespace ferry::master {

// Appends `lines` (each ending in '\n', the last one maybe not) as JSON objects, one a line;
// `pid` is the worker that wrote them, 0 for the master.
void append_json_log_lines(std::string& out, std::string_view lines, pid_t pid,
                           std::chrono::system_clock::time_point now);

// The same, returned, with the time now.
std::string json_log_lines(std::string_view lines, pid_t pid);

}  // namespace ferry::master
