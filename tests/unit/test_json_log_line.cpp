// src/master/json_log_line.cpp: log-encoder = json, a line of the log as a JSON object.

#include "master/json_log_line.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>

using namespace ferry::master;

namespace {

std::string encode(std::string_view lines, pid_t pid) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  std::string out;
  // 2026-11-25 10:37:38.250 UTC
  append_json_log_lines(out, lines, pid,
                        std::chrono::system_clock::time_point(std::chrono::milliseconds(1795603058250)));
  return out;
}

}  // namespace

TEST_CASE("ferry's own line keeps its time, level, source and pid") {
  CHECK(encode("2026-12-07 11:00:00.123 master[812] info: started worker 1 (pid 813, generation 1)\n", 0) ==
        "{\"time\":\"2026-12-07T11:00:00.123\",\"level\":\"info\",\"source\":\"master\",\"pid\":812,"
        "\"msg\":\"started worker 1 (pid 813, generation 1)\"}\n");
  CHECK(encode("2026-12-07 11:00:00.123 worker 2[813] warning: a \"quote\"\n", 813) ==
        "{\"time\":\"2026-12-07T11:00:00.123\",\"level\":\"warning\",\"source\":\"worker 2\",\"pid\":813,"
        "\"msg\":\"a \\\"quote\\\"\"}\n");
}

TEST_CASE("anything else is the worker's output, at the time now") {
  CHECK(encode("  File \"/app.py\", line 3\n", 813) ==
        "{\"time\":\"2026-11-25T10:37:38.250\",\"level\":\"output\",\"source\":\"worker\",\"pid\":813,"
        "\"msg\":\"  File \\\"/app.py\\\", line 3\"}\n");
}

TEST_CASE("each line its own object, a last line without newline too, bytes escaped") {
  const auto out = encode("one\ntwo\xff\x1b", 9);
  CHECK(out.find("\"msg\":\"one\"}\n{") != std::string::npos);
  CHECK(out.ends_with("\"msg\":\"two\\\\xff\\u001b\"}\n"));
}

TEST_CASE("a line that only looks like ferry's is output") {
  CHECK(encode("2026-12-07 11:00:00.123 not a ferry line\n", 5).find("\"level\":\"output\"") != std::string::npos);
}
