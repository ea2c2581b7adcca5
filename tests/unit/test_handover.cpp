// src/master/handover.cpp: what a master passes to the master it re-executes as.

#include "master/handover.hpp"

#include <doctest/doctest.h>

using namespace ferry::master;

namespace {

Handover sample() {
  Handover h;
  h.pid = 4242;
  h.chain = true;
  h.generation = 7;
  h.events_read = 5;
  h.events_write = 6;
  h.counters_fd = 9;
  h.sockets.push_back({3, 2049, 123456, "/run/app dir/app,1 2.sock"});
  h.sockets.push_back({4, 0, 0, "127.0.0.1:8000", /*http=*/true});
  h.workers.push_back({100, 1, 7, 11, 4095, false, 123456789012345});
  h.workers.push_back({101, 2, 6, -1, 0, true, 5});
  return h;
}

}  // namespace

TEST_CASE("a handover survives encoding, including addresses with spaces and commas") {
  const Handover h = sample();
  const auto back = Handover::decode(h.encode());
  REQUIRE(back);
  CHECK(back->pid == 4242);
  CHECK(back->chain);
  CHECK(back->generation == 7);
  CHECK(back->events_read == 5);
  CHECK(back->events_write == 6);
  CHECK(back->counters_fd == 9);
  REQUIRE(back->sockets.size() == 2);
  CHECK(back->sockets[0].address == "/run/app dir/app,1 2.sock");
  CHECK(back->sockets[0].device == 2049);
  CHECK(back->sockets[0].inode == 123456);
  CHECK(back->sockets[1].address == "127.0.0.1:8000");
  CHECK(back->sockets[1].http);
  CHECK_FALSE(back->sockets[0].http);
  REQUIRE(back->workers.size() == 2);
  CHECK(back->workers[0].pid == 100);
  CHECK(back->workers[0].counter_slot == 4095);
  CHECK(back->workers[0].started_ns == 123456789012345);
  CHECK_FALSE(back->workers[0].retiring);
  CHECK(back->workers[1].output_fd == -1);  // its pipe had closed already
  CHECK(back->workers[1].retiring);
}

TEST_CASE("anything but a complete handover of this version is refused") {
  const std::string good = sample().encode();
  CHECK_FALSE(Handover::decode(""));
  CHECK_FALSE(Handover::decode("ferry-handover-0 " + good.substr(good.find(' ') + 1)));
  CHECK_FALSE(Handover::decode(good + " unknown=1"));
  CHECK_FALSE(Handover::decode(good + " worker=1,2,3"));
  CHECK_FALSE(Handover::decode(good + " socket=3,0,0,0,zz"));
  CHECK_FALSE(Handover::decode(good + " socket=3,0,0,2f"));  // the http field is missing
  CHECK_FALSE(Handover::decode(good + " chain=2"));
  CHECK_FALSE(Handover::decode("ferry-handover-1 pid=1 events=1,2 counters=3"));  // no socket
  CHECK_FALSE(Handover::decode("ferry-handover-1 pid=x events=1,2 counters=3 socket=3,0,0,0,2f"));
  CHECK(Handover::decode("ferry-handover-1 pid=1 events=1,2 counters=3 socket=3,0,0,0,2f"));
}

TEST_CASE("a worker's request-line pipe (req-logger) is handed over; without one the text is as before") {
  Handover h = sample();
  const std::string without = h.encode();
  CHECK(without.find("request_pipe") == std::string::npos);
  h.workers[1].request_fd = 12;
  const auto back = Handover::decode(h.encode());
  REQUIRE(back);
  CHECK(back->workers[0].request_fd == -1);
  CHECK(back->workers[1].request_fd == 12);
  CHECK_FALSE(Handover::decode(without + " request_pipe=999,12"));  // no such worker
}

TEST_CASE("a socket systemd passed stays marked as systemd's across a re-exec") {
  Handover h = sample();
  h.sockets[1].activated = true;
  const auto back = Handover::decode(h.encode());
  REQUIRE(back);
  CHECK_FALSE(back->sockets[0].activated);
  CHECK(back->sockets[1].activated);
  CHECK(back->sockets[1].http);
  // A master from before the flag wrote only 0 or 1 there: still read as it meant.
  const auto old = Handover::decode("ferry-handover-1 pid=1 events=1,2 counters=3 socket=3,0,0,1,2f");
  REQUIRE(old);
  CHECK(old->sockets[0].http);
  CHECK_FALSE(old->sockets[0].activated);
  CHECK_FALSE(Handover::decode("ferry-handover-1 pid=1 events=1,2 counters=3 socket=3,0,0,4,2f"));
}
