// src/worker/accept_refusals.cpp: which accept errors mean "out of descriptors or memory",
// and the one line a burst of them is logged as.

#include "worker/accept_refusals.hpp"

#include <doctest/doctest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <sstream>

using ferry::worker::accept_starved;
using ferry::worker::BurstCounter;
using ferry::worker::report_accept_refusals;

TEST_CASE("out of descriptors or memory starves accept; other errors do not") {
  for (int error : {EMFILE, ENFILE, ENOBUFS, ENOMEM}) CHECK(accept_starved(error));
  for (int error : {EAGAIN, ECONNABORTED, EINTR, EINVAL, EBADF}) CHECK_FALSE(accept_starved(error));
}

TEST_CASE("the line counts the failures, says whether they go on, and names the limit to raise") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log("test", sink);
  log.set_pattern("%v");

  report_accept_refusals(log, "HTTP accept", BurstCounter::Report{1, std::chrono::milliseconds(0), true}, EMFILE);
  report_accept_refusals(log, "accept on the uwsgi socket",
                         BurstCounter::Report{37, std::chrono::milliseconds(10'500), false}, ENFILE);
  log.flush();
  const std::string text = out.str();
  CHECK(text.find("HTTP accept failed 1 time in 0.0 s: Too many open files; connections waited in the listen "
                  "queue (open file limit ") != std::string::npos);
  CHECK(text.find("raise it with ulimit -n or LimitNOFILE=)") != std::string::npos);
  CHECK(text.find("accept on the uwsgi socket failed 37 times in 10.5 s and still fails: Too many open files in "
                  "system") != std::string::npos);
}
