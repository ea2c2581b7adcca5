// src/master/metrics.cpp: a StatsSnapshot as Prometheus text.

#include "master/metrics.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "sample_snapshot.hpp"

using ferry::master::escape_label_value;
using ferry::master::prometheus_text;
using ferry::master::StatsSnapshot;
using ferry::test::sample_snapshot;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string got; std::getline(in, got);) {
    if (got == line) return true;
  }
  return false;
}

// promtool's exit code for `check metrics` on this text (0: nothing to report) and what it said.
int promtool_check(const std::string& text, std::string& said) {
  const std::string path = "/tmp/ferry-test-metrics-" + std::to_string(::getpid()) + ".txt";
  if (FILE* f = std::fopen(path.c_str(), "w")) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  FILE* p = ::popen(("/usr/bin/promtool check metrics < " + path + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buffer[512];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, p)) > 0;) said.append(buffer, n);
  const int status = ::pclose(p);
  std::remove(path.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("every family has HELP and TYPE, once, before its samples") {
  const auto text = prometheus_text(sample_snapshot());
  for (const char* family :
       {"ferry_requests_total", "ferry_request_duration_seconds", "ferry_responses_total", "ferry_exceptions_total",
        "ferry_harakiri_total", "ferry_worker_respawns_total", "ferry_workers", "ferry_listen_queue",
        "ferry_listen_queue_max", "ferry_worker_rss_bytes", "ferry_inflight_requests", "ferry_build_info",
        "ferry_start_time_seconds", "ferry_tx_bytes_total"}) {
    CAPTURE(family);
    const std::string help = std::string("# HELP ") + family + " ";
    const std::string type = std::string("# TYPE ") + family + " ";
    const auto at = text.find(help);
    REQUIRE(at != std::string::npos);
    CHECK(text.find(help, at + 1) == std::string::npos);
    CHECK(text.find(type) > at);
    // No sample of the family before its TYPE line, and one right after it.
    for (const char* after : {"{", " ", "_bucket{"}) {
      const auto sample = text.find(std::string("\n") + family + after);
      if (sample != std::string::npos) CHECK(sample > text.find(type));
    }
    const auto next_line = text.find('\n', text.find(type)) + 1;
    CHECK(text.compare(next_line, std::strlen(family), family) == 0);
  }
}

TEST_CASE("counters are the lifetime counts, labelled by worker") {
  const auto text = prometheus_text(sample_snapshot());
  CHECK(has_line(text, "# TYPE ferry_requests_total counter"));
  // Worker 1's process served 10, but its id served 40 over its respawns.
  CHECK(has_line(text, "ferry_requests_total{worker=\"1\"} 40"));
  CHECK(has_line(text, "ferry_requests_total{worker=\"2\"} 2"));
  CHECK(has_line(text, "ferry_exceptions_total{worker=\"1\"} 2"));
  CHECK(has_line(text, "ferry_harakiri_total{worker=\"1\"} 1"));
  CHECK(has_line(text, "ferry_tx_bytes_total{worker=\"2\"} 100"));
  CHECK(has_line(text, "ferry_worker_respawns_total 3"));
  CHECK(has_line(text, "ferry_listen_queue_errors_total 7"));
}

TEST_CASE("responses are summed over workers by status class, every class present") {
  const auto text = prometheus_text(sample_snapshot());
  CHECK(has_line(text, "ferry_responses_total{status=\"1xx\"} 0"));
  CHECK(has_line(text, "ferry_responses_total{status=\"2xx\"} 31"));
  CHECK(has_line(text, "ferry_responses_total{status=\"3xx\"} 4"));
  CHECK(has_line(text, "ferry_responses_total{status=\"4xx\"} 5"));
  CHECK(has_line(text, "ferry_responses_total{status=\"5xx\"} 2"));
  CHECK(has_line(text, "ferry_responses_total{status=\"other\"} 0"));
}

TEST_CASE("the duration histogram is cumulative, aggregated, and ends with +Inf == _count") {
  const auto text = prometheus_text(sample_snapshot());
  CHECK(has_line(text, "# TYPE ferry_request_duration_seconds histogram"));
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"0.005\"} 11"));
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"0.01\"} 22"));
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"1\"} 42"));
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"2.5\"} 42"));
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"+Inf\"} 42"));
  CHECK(has_line(text, "ferry_request_duration_seconds_sum 1.75"));
  CHECK(has_line(text, "ferry_request_duration_seconds_count 42"));
  CHECK(text.find("ferry_request_duration_seconds_bucket{le=\"0.005\"}") <
        text.find("ferry_request_duration_seconds_bucket{le=\"0.01\"}"));
  CHECK(text.find("ferry_request_duration_seconds_bucket{le=\"10\"}") <
        text.find("ferry_request_duration_seconds_bucket{le=\"+Inf\"}"));
}

TEST_CASE("a worker without buckets yet adds nothing; no bounds leaves only +Inf") {
  auto s = sample_snapshot();
  s.workers[1].lifetime.bucket_counts.clear();
  auto text = prometheus_text(s);
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"+Inf\"} 40"));
  s.duration_bounds.clear();
  s.workers[0].lifetime.bucket_counts = {40};
  text = prometheus_text(s);
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"+Inf\"} 40"));
  CHECK(text.find("le=\"0.005\"") == std::string::npos);
}

TEST_CASE("workers are counted by state, every state present") {
  auto s = sample_snapshot();
  auto text = prometheus_text(s);
  CHECK(has_line(text, "ferry_workers{state=\"idle\"} 1"));
  CHECK(has_line(text, "ferry_workers{state=\"busy\"} 1"));
  CHECK(has_line(text, "ferry_workers{state=\"starting\"} 0"));
  CHECK(has_line(text, "ferry_workers{state=\"stopping\"} 0"));
  CHECK(has_line(text, "ferry_workers_configured 2"));
  CHECK(has_line(text, "ferry_master_phase{phase=\"serving\"} 1"));
  CHECK(has_line(text, "ferry_master_phase{phase=\"stopping\"} 0"));

  s.workers[1].accepting = false;  // spawned, still loading the app
  text = prometheus_text(s);
  CHECK(has_line(text, "ferry_workers{state=\"starting\"} 1"));
  CHECK(has_line(text, "ferry_workers{state=\"idle\"} 0"));

  s.phase = StatsSnapshot::Phase::stopping;  // after SIGTERM, the ones not accepting are leaving
  text = prometheus_text(s);
  CHECK(has_line(text, "ferry_workers{state=\"stopping\"} 1"));
  CHECK(has_line(text, "ferry_workers{state=\"starting\"} 0"));
  CHECK(has_line(text, "ferry_master_phase{phase=\"stopping\"} 1"));
}

TEST_CASE("gauges: memory per worker, queues per socket, in-flight, build info, start time") {
  const auto text = prometheus_text(sample_snapshot());
  CHECK(has_line(text, "ferry_worker_rss_bytes{worker=\"1\"} 31457280"));
  CHECK(has_line(text, "ferry_worker_vsz_bytes{worker=\"2\"} 199229440"));
  CHECK(has_line(text, "ferry_listen_queue{socket=\"127.0.0.1:8000\"} 0"));
  CHECK(has_line(text, "ferry_listen_queue_max{socket=\"127.0.0.1:8000\"} 128"));
  CHECK(has_line(text, "ferry_inflight_requests 1"));
  CHECK(has_line(text, "ferry_build_info{version=\"1.2.3\"} 1"));
  CHECK(has_line(text, "ferry_start_time_seconds 1764000000"));
}

TEST_CASE("label values escape backslash, double quote and newline") {
  CHECK(escape_label_value("plain:8000") == "plain:8000");
  CHECK(escape_label_value("a\"b") == "a\\\"b");
  CHECK(escape_label_value("a\\b") == "a\\\\b");
  CHECK(escape_label_value("a\nb") == "a\\nb");
  const auto text = prometheus_text(sample_snapshot());
  CHECK(has_line(text, "ferry_listen_queue{socket=\"/run/app \\\"x\\\"\\\\y.sock\"} 5"));
}

TEST_CASE("an empty snapshot still renders every family, with no per-worker samples") {
  const StatsSnapshot empty;
  const auto text = prometheus_text(empty);
  CHECK(has_line(text, "# TYPE ferry_requests_total counter"));
  CHECK(text.find("ferry_requests_total{") == std::string::npos);
  CHECK(has_line(text, "ferry_request_duration_seconds_count 0"));
  CHECK(has_line(text, "ferry_workers{state=\"idle\"} 0"));
}

TEST_CASE("promtool check metrics reports nothing, and would report a problem") {
  std::string said;
  CHECK(promtool_check(prometheus_text(sample_snapshot()), said) == 0);
  CHECK(said.empty());
  said.clear();
  CHECK(promtool_check(prometheus_text(StatsSnapshot{}), said) == 0);
  CHECK(said.empty());
  // The check can fail: a counter without HELP is one promtool names.
  said.clear();
  CHECK(promtool_check("# TYPE ferry_bad counter\nferry_bad 1\n", said) != 0);
  CHECK(said.find("ferry_bad") != std::string::npos);
}

TEST_CASE("an id listed twice (a worker and its successor) is one series per family, summed") {
  auto s = sample_snapshot();
  // Worker 2's replacement, still loading the app, with 1 request of its own counted; the
  // id's earlier processes' counts stay with the first entry (as stats_collect gives them).
  ferry::master::WorkerSnapshot successor;
  successor.id = 2;
  successor.pid = 103;
  successor.rss = 1000;
  successor.vsz = 2000;
  successor.lifetime.requests = 1;
  successor.lifetime.responses_by_class = {0, 1, 0, 0, 0, 0};
  successor.lifetime.bucket_counts = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  successor.lifetime.duration_seconds_sum = 0.001;
  s.workers[1].accepting = false;  // the old one, retiring
  s.workers.push_back(successor);
  const auto text = prometheus_text(s);
  std::string said;
  CHECK(promtool_check(text, said) == 0);
  CHECK(said.empty());
  std::size_t count = 0;
  for (auto at = text.find("\nferry_requests_total{worker=\"2\"}"); at != std::string::npos;
       at = text.find("\nferry_requests_total{worker=\"2\"}", at + 1)) {
    ++count;
  }
  CHECK(count == 1);
  CHECK(has_line(text, "ferry_requests_total{worker=\"2\"} 3"));
  CHECK(has_line(text, "ferry_worker_rss_bytes{worker=\"2\"} 20972520"));
  CHECK(has_line(text, "ferry_request_duration_seconds_count 43"));
  CHECK(has_line(text, "ferry_request_duration_seconds_bucket{le=\"0.005\"} 12"));
  CHECK(has_line(text, "ferry_responses_total{status=\"2xx\"} 32"));
  // The older of the two is leaving, the newer arriving.
  CHECK(has_line(text, "ferry_workers{state=\"stopping\"} 1"));
  CHECK(has_line(text, "ferry_workers{state=\"starting\"} 1"));
  CHECK(has_line(text, "ferry_workers{state=\"busy\"} 1"));
}
