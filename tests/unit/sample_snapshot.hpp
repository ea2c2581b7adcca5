#pragma once

// A filled StatsSnapshot for the metrics tests and tests/unit/metrics_sample.cpp (which
// prints its Prometheus text for promtool and the Grafana dashboard test): two workers,
// one busy, one respawned, two sockets, one with an awkward name.

#include "master/stats_snapshot.hpp"

namespace ferry::test {

inline master::StatsSnapshot sample_snapshot() {
  master::StatsSnapshot s;
  s.version = "1.2.3";
  s.pid = 100;
  s.phase = master::StatsSnapshot::Phase::serving;
  s.configured_workers = 2;
  s.respawns_total = 3;
  s.started_at = 1764000000;
  s.load = 1;
  s.listen_queue = 5;
  s.listen_queue_errors = 7;
  s.duration_bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  master::SocketSnapshot unix_socket;
  unix_socket.name = "/run/app \"x\"\\y.sock";
  unix_socket.proto = "uwsgi";
  unix_socket.queue = 5;
  unix_socket.max_queue = 4096;
  master::SocketSnapshot tcp;
  tcp.name = "127.0.0.1:8000";
  tcp.proto = "http";
  tcp.max_queue = 128;
  s.sockets = {unix_socket, tcp};

  master::WorkerSnapshot one;
  one.id = 1;
  one.pid = 101;
  one.accepting = true;
  one.status = "busy";
  one.in_flight = 1;
  one.rss = 30 * 1024 * 1024;
  one.vsz = 200 * 1024 * 1024;
  one.requests = 10;  // this process's: fewer than its lifetime count
  one.lifetime.requests = 40;
  one.lifetime.exceptions = 2;
  one.lifetime.harakiri = 1;
  one.lifetime.tx_bytes = 4000;
  one.lifetime.responses_by_class = {0, 30, 4, 4, 2, 0};
  one.lifetime.bucket_counts = {10, 20, 30, 35, 38, 39, 39, 40, 40, 40, 40, 40};
  one.lifetime.duration_seconds_sum = 1.5;

  master::WorkerSnapshot two;
  two.id = 2;
  two.pid = 102;
  two.accepting = true;
  two.status = "idle";
  two.rss = 20 * 1024 * 1024;
  two.vsz = 190 * 1024 * 1024;
  two.requests = 2;
  two.lifetime.requests = 2;
  two.lifetime.tx_bytes = 100;
  two.lifetime.responses_by_class = {0, 1, 0, 1, 0, 0};
  two.lifetime.bucket_counts = {1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  two.lifetime.duration_seconds_sum = 0.25;
  s.workers = {one, two};
  return s;
}

}  // namespace ferry::test
