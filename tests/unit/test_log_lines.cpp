// src/master/log_lines.cpp: a worker's output pipe turned into whole lines.

#include "master/log_lines.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <string>

using ferry::master::LineJoiner;
using ferry::master::RecentOutput;

TEST_CASE("whole lines pass through as they are") {
  LineJoiner joiner;
  std::string out;
  joiner.feed("one\ntwo\n", out);
  CHECK(out == "one\ntwo\n");
  CHECK_FALSE(joiner.has_partial());
}

TEST_CASE("a line split between reads is written once it is complete") {
  LineJoiner joiner;
  std::string out;
  joiner.feed("one\ntw", out);
  CHECK(out == "one\n");
  CHECK(joiner.has_partial());
  joiner.feed("o and", out);
  CHECK(out == "one\n");
  joiner.feed(" more\nthree", out);
  CHECK(out == "one\ntwo and more\n");
  joiner.finish(out);
  CHECK(out == "one\ntwo and more\nthree\n");
  CHECK_FALSE(joiner.has_partial());
}

TEST_CASE("finish adds nothing when the stream ended with a newline") {
  LineJoiner joiner;
  std::string out;
  joiner.feed("done\n", out);
  joiner.finish(out);
  CHECK(out == "done\n");
}

TEST_CASE("a line without end is cut at kMaxLine, so memory stays bounded") {
  LineJoiner joiner;
  std::string out;
  const std::string chunk(40 * 1024, 'x');
  joiner.feed(chunk, out);
  CHECK(out.empty());
  joiner.feed(chunk, out);  // 80 KiB without a newline
  REQUIRE(out.size() == LineJoiner::kMaxLine + 1);
  CHECK(out.back() == '\n');
  CHECK(out.find('\n') == LineJoiner::kMaxLine);
  joiner.feed("y\n", out);
  CHECK(out.size() == LineJoiner::kMaxLine + 1 + (80 * 1024 - LineJoiner::kMaxLine) + 2);
  CHECK(out.substr(out.size() - 3) == "xy\n");
}

TEST_CASE("recent output keeps the latest lines, cut at a line start") {
  RecentOutput recent(16);
  recent.add("first\n");
  recent.add("second\n");
  CHECK(recent.text() == "first\nsecond\n");
  recent.add("third\n");  // 19 bytes: "first" must go, and nothing starts mid-line
  CHECK(recent.text() == "second\nthird\n");
  recent.add("a very long line indeed\n");  // longer than the limit on its own
  CHECK(recent.text().size() <= 16);
  CHECK(recent.text().back() == '\n');
}

TEST_CASE("a log outage is reported once, counts every dropped line, and ends with one note") {
  ferry::master::LogOutage outage;
  CHECK_FALSE(outage.active());
  CHECK(outage.on_failure(ENOSPC, 3));  // the first failure: tell stderr
  CHECK_FALSE(outage.on_failure(ENOSPC, 2));
  CHECK_FALSE(outage.on_failure(EIO, 1));  // a second kind of error does not repeat the notice
  CHECK(outage.active());
  CHECK(outage.error() == ENOSPC);
  CHECK(outage.dropped() == 6);
  outage.on_resumed();
  CHECK_FALSE(outage.active());
  CHECK(outage.dropped() == 0);
  CHECK(outage.on_failure(EDQUOT, 1));  // a later outage is a new one
}

TEST_CASE("dropped output is counted in lines, a cut last line included") {
  using ferry::master::count_lines;
  CHECK(count_lines("") == 0);
  CHECK(count_lines("a\n") == 1);
  CHECK(count_lines("a\nb\nc") == 3);
  CHECK(count_lines("\n\n") == 2);
}

TEST_CASE("the notices name the file, the error and the fix") {
  const std::string notice = ferry::master::log_outage_notice("/var/log/app.log", ENOSPC);
  CHECK(notice ==
        "ferry: cannot write the log /var/log/app.log: No space left on device (ENOSPC). Serving goes on; log lines "
        "are dropped and counted until the log can be written again (tried at each new line). To fix it, free space "
        "on its filesystem (df shows which one).\n");
  CHECK(ferry::master::log_outage_notice("", EIO).find("the log stderr: Input/output error (EIO)") !=
        std::string::npos);
  CHECK(ferry::master::log_resumed_note("/l", ENOSPC, 12) ==
        "ferry: 12 log lines dropped while /l was full (No space left on device (ENOSPC)); logging resumes\n");
  CHECK(ferry::master::log_resumed_note("/l", EIO, 1) ==
        "ferry: 1 log line dropped while /l could not be written (Input/output error (EIO)); logging resumes\n");
}
