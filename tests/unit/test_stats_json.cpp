// src/master/stats_json.cpp: the stats document, with uWSGI's keys and JSON types.

#include "master/stats_json.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry::master;

namespace {

StatsSnapshot sample() {
  StatsSnapshot s;
  s.version = "1.2.3";
  s.pid = 42;
  s.uid = 1000;
  s.gid = 1001;
  s.cwd = "/srv/a\"b";
  s.listen_queue = 3;
  s.sockets.push_back({"/run/app.sock", "uwsgi", 3, 4096, false, false});
  WorkerSnapshot w;
  w.id = 1;
  w.pid = 43;
  w.accepting = true;
  w.requests = 7;
  w.status = "busy";
  w.rss = 1 << 20;
  w.avg_rt = 1500;
  w.apps.push_back({0, 0, "", 0, 7, 1, "/srv"});
  CoreSnapshot idle;
  idle.id = 0;
  CoreSnapshot busy;
  busy.id = 1;
  busy.in_request = true;
  busy.current = {"POST", "/upload?x=\"1\"", "10.0.0.9", 2.5, 1796640000};
  w.cores = {idle, busy};
  s.workers.push_back(w);
  s.phase = StatsSnapshot::Phase::serving;
  s.configured_workers = 1;
  return s;
}

bool has(const std::string& doc, const std::string& piece) { return doc.find(piece) != std::string::npos; }

}  // namespace

TEST_CASE("the top level, sockets and workers carry uWSGI's keys, flags as numbers") {
  const std::string doc = stats_json(sample(), /*minified=*/true);
  CHECK(
      doc.starts_with("{\"version\":\"1.2.3\",\"listen_queue\":3,\"listen_queue_errors\":0,\"signal_queue\":0,"
                      "\"load\":0,\"pid\":42,\"uid\":1000,\"gid\":1001,\"cwd\":\"/srv/a\\\"b\",\"sockets\":["));
  CHECK(has(doc,
            "{\"name\":\"/run/app.sock\",\"proto\":\"uwsgi\",\"queue\":3,\"max_queue\":4096,\"shared\":0,"
            "\"can_offload\":0}"));
  CHECK(has(doc,
            "{\"id\":1,\"pid\":43,\"accepting\":1,\"requests\":7,\"delta_requests\":0,\"exceptions\":0,"
            "\"harakiri_count\":0,\"signals\":0,\"signal_queue\":0,\"status\":\"busy\",\"rss\":1048576,"
            "\"vsz\":0,\"running_time\":0,\"last_spawn\":0,\"respawn_count\":0,\"tx\":0,\"avg_rt\":1500,"
            "\"apps\":[{\"id\":0,\"modifier1\":0,\"mountpoint\":\"\",\"startup_time\":0,\"requests\":7,"
            "\"exceptions\":1,\"chdir\":\"/srv\"}],\"cores\":["));
  CHECK(has(doc, "\"ferry\":{\"phase\":\"serving\",\"configured_workers\":1,"));
  CHECK(doc.ends_with("}"));
}

TEST_CASE("a core between requests has empty vars, req_info and request") {
  const std::string doc = stats_json(sample(), true);
  CHECK(has(doc,
            "{\"id\":0,\"requests\":0,\"static_requests\":0,\"routed_requests\":0,\"offloaded_requests\":0,"
            "\"write_errors\":0,\"read_errors\":0,\"in_request\":0,\"vars\":[],\"req_info\":{},\"request\":{}}"));
}

TEST_CASE("a core in a request shows it: uWSGI's vars and req_info, and ferry's request, escaped") {
  const std::string doc = stats_json(sample(), true);
  CHECK(has(doc,
            "\"in_request\":1,\"vars\":[\"REQUEST_METHOD=POST\",\"REQUEST_URI=/upload?x=\\\"1\\\"\","
            "\"REMOTE_ADDR=10.0.0.9\"],\"req_info\":{\"request_start\":1796640000},"
            "\"request\":{\"method\":\"POST\",\"uri\":\"/upload?x=\\\"1\\\"\",\"remote_addr\":\"10.0.0.9\","
            "\"seconds\":2.500000}}"));
}

TEST_CASE("not minified: uWSGI's layout, the same content") {
  const std::string pretty = stats_json(sample(), false);
  CHECK(pretty.starts_with("{\n\t\"version\":\"1.2.3\",\n\t\"listen_queue\":3,\n"));
  std::string squeezed;
  for (const char c : pretty) {
    if (c != '\n' && c != '\t') squeezed += c;
  }
  CHECK(squeezed == stats_json(sample(), true));
}

TEST_CASE("phase names") {
  CHECK(std::string(phase_name(StatsSnapshot::Phase::starting)) == "starting");
  CHECK(std::string(phase_name(StatsSnapshot::Phase::stopping)) == "stopping");
}
