// src/worker/harakiri.cpp: a request past harakiri is logged, the Python stacks are asked
// for (SIGUSR2), its connection is cut, the other threads are told to stop and given
// worker-reload-mercy, and the worker exits with kExitHarakiri. Run in a forked child,
// since the watchdog ends its process.

#include "worker/harakiri.hpp"

#include "common/exit_codes.hpp"
#include "worker/request_clock.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace ferry;
using namespace ferry::worker;
namespace fs = std::filesystem;

namespace {

volatile sig_atomic_t g_stacks_dumped = 0;
std::atomic<bool> g_stopped{false};
int g_request_fd = -1;
int g_report_fd = -1;  // to the test: what the watchdog had done when it stopped the serving threads

void on_stack_dump(int) { g_stacks_dumped = 1; }

void stop_serving() {
  char byte = 0;
  // harakiri's shutdown() came first: the stuck request's socket reads end-of-file now.
  const char report = g_stacks_dumped && ::recv(g_request_fd, &byte, 1, MSG_DONTWAIT) == 0 ? 'A' : 'X';
  ::write(g_report_fd, &report, 1);
  g_stopped = true;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

TEST_CASE("an overdue request: logged, stacks dumped, socket cut, others get mercy, exit 5") {
  std::string templ = (fs::temp_directory_path() / "ferry-harakiri-XXXXXX").string();
  const fs::path dir = ::mkdtemp(templ.data());
  const std::string log_path = (dir / "worker.log").string();
  int report[2];
  REQUIRE(::pipe2(report, O_CLOEXEC) == 0);

  const auto begun = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    g_report_fd = report[1];
    ::signal(kStackDumpSignal, on_stack_dump);  // faulthandler's place
    int pair[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair);
    g_request_fd = pair[0];
    auto log =
        std::make_shared<spdlog::logger>("worker", std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_path));
    log->set_pattern("%v");
    log->flush_on(spdlog::level::trace);
    RequestClock clock(2);
    const auto now = RequestClock::Clock::now();
    // Thread 0 started 3 s ago (past harakiri = 1 s); thread 1 is in a request that is not overdue.
    clock.begin(0, pair[0], "GET", "/slow", now - std::chrono::seconds(3));
    clock.begin(1, -1, "POST", "/fine", now);
    start_harakiri_watchdog(clock, log, HarakiriSettings{.harakiri_s = 1, .mercy_s = 30, .slot = 3, .pid = 4242},
                            stop_serving)
        .detach();  // it ends this child with _exit
    while (!g_stopped) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // The watchdog waits for thread 1 (mercy 30 s) rather than exiting under it.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const char alive = 'L';
    ::write(report[1], &alive, 1);
    clock.end(1);  // thread 1 finishes: the watchdog ends the worker
    for (;;) ::pause();
  }
  ::close(report[1]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  const auto took = std::chrono::steady_clock::now() - begun;
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == kExitHarakiri);
  char reports[4] = {};
  CHECK(::read(report[0], reports, sizeof reports) == 2);
  CHECK(std::string(reports, 2) == "AL");
  ::close(report[0]);
  CHECK(took < std::chrono::seconds(20));  // not the 30 s of mercy: thread 1 was done

  const std::string text = read_all(log_path);
  CHECK(text.find("harakiri: GET /slow has run for 3.") != std::string::npos);
  CHECK(text.find("past harakiri = 1 s (worker 3, pid 4242, thread 0)") != std::string::npos);
  fs::remove_all(dir);
}
