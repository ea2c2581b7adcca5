// src/worker/uwsgi_handoffs.hpp: a stop ends the hand-overs only once none is held, and
// wakes the serving threads through an eventfd rather than a poll timeout.

#include "worker/uwsgi_handoffs.hpp"

#include <doctest/doctest.h>
#include <poll.h>

using namespace ferry::worker;

namespace {
bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}
}  // namespace

TEST_CASE("a stop finishes the hand-overs once the last one is released") {
  UwsgiHandoffs handoffs;
  CHECK_FALSE(handoffs.finished());
  REQUIRE(handoffs.hold());
  REQUIRE(handoffs.hold());
  CHECK_FALSE(handoffs.finish_if_empty());  // two are still waiting for their packet
  CHECK_FALSE(readable(handoffs.released_fd()));
  CHECK_FALSE(handoffs.finished());
  CHECK(handoffs.release() == 1);
  CHECK(handoffs.release() == 0);
  CHECK_FALSE(handoffs.finished());  // finishing is the stop's call, not the last release's
  CHECK(handoffs.finish_if_empty());
  CHECK(readable(handoffs.released_fd()));
  CHECK(handoffs.finished());
  CHECK(handoffs.finish_if_empty());  // again: still finished, harmless
}

TEST_CASE("after the finish a hand-over is refused: the serving thread queues it itself") {
  UwsgiHandoffs handoffs;
  REQUIRE(handoffs.finish_if_empty());
  CHECK_FALSE(handoffs.hold());
  CHECK(handoffs.finished());
  CHECK(handoffs.finish_if_empty());  // the refused hand-over was not counted
}
