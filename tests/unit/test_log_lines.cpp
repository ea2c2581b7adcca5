// src/master/log_lines.cpp: a worker's output pipe turned into whole lines.

#include "master/log_lines.hpp"

#include <doctest/doctest.h>

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
