// src/master/log_collector.cpp: the workers' pipes read into the log, with real pipes
// in this process (no fork): what the master's own lines and a worker's death rely on.

#include "master/log_collector.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"

using ferry::UniqueFd;
using ferry::master::LogCollector;

namespace {

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
  void put(const std::string& text) const {
    REQUIRE(::write(write.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }
};

// The log: a memory file, read back whole.
struct Log {
  UniqueFd fd{::memfd_create("log", MFD_CLOEXEC)};
  ferry::master::LogFile file{fd.get(), "log"};
  std::string text() const {
    std::string out;
    char buffer[65536];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(fd.get(), buffer, sizeof buffer, at);
      if (n <= 0) return out;
      out.append(buffer, static_cast<std::size_t>(n));
      at += n;
    }
  }
};

}  // namespace

TEST_CASE("flush() writes what every worker wrote before it, however many workers there are") {
  asio::io_context io;
  Log log;
  LogCollector collector(io, log.file);
  std::vector<Pipe> pipes(150);  // more than one epoll batch (64)
  for (std::size_t i = 0; i < pipes.size(); ++i) {
    collector.add(static_cast<pid_t>(1000 + i), std::move(pipes[i].read));
    pipes[i].put("line " + std::to_string(i) + "\n");
  }
  collector.flush();
  const std::string text = log.text();
  for (std::size_t i = 0; i < pipes.size(); ++i) {
    CHECK(text.find("line " + std::to_string(i) + "\n") != std::string::npos);
  }
  CHECK(std::count(text.begin(), text.end(), '\n') == 150);
}

TEST_CASE("an unfinished line waits for its end; end_lines() ends it before a re-exec") {
  asio::io_context io;
  Log log;
  LogCollector collector(io, log.file);
  Pipe pipe;
  collector.add(7, std::move(pipe.read));
  pipe.put("whole\nhalf a li");
  collector.flush();
  CHECK(log.text() == "whole\n");
  pipe.put("ne\nand the st");
  collector.flush();
  CHECK(log.text() == "whole\nhalf a line\n");
  collector.end_lines();
  CHECK(log.text() == "whole\nhalf a line\nand the st\n");
  pipe.put("art of another\n");
  collector.flush();
  CHECK(log.text() == "whole\nhalf a line\nand the st\nart of another\n");
}

TEST_CASE("encode_as_json(): each whole line an object, a line cut by a read still one") {
  asio::io_context io;
  Log log;
  LogCollector collector(io, log.file);
  collector.encode_as_json();
  Pipe pipe;
  collector.add(42, std::move(pipe.read));
  pipe.put("print \"x\"\nhalf ");
  collector.flush();
  pipe.put("a line\nlast");
  collector.remove(42);  // the last line, unfinished, ends with the pipe
  const std::string text = log.text();
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
  CHECK(text.find("\"level\":\"output\",\"source\":\"worker\",\"pid\":42,\"msg\":\"print \\\"x\\\"\"}\n") !=
        std::string::npos);
  CHECK(text.find("\"msg\":\"half a line\"}\n") != std::string::npos);
  CHECK(text.ends_with("\"msg\":\"last\"}\n"));
}

TEST_CASE("remove() reads what is there and returns, even while someone still writes") {
  asio::io_context io;
  Log log;
  LogCollector collector(io, log.file);
  Pipe pipe;
  collector.add(42, std::move(pipe.read));
  pipe.put("printed while loading\nlast words");
  // The write end stays open, as when the worker started a process that holds its
  // output: remove() must not wait for an end that never comes.
  const std::string before_ready = collector.remove(42);
  CHECK(log.text() == "printed while loading\nlast words\n");
  CHECK(before_ready == "printed while loading\nlast words\n");
  CHECK(collector.pipe_fd(42) == -1);
}

TEST_CASE("once a worker is ready, what it prints is not kept for a load failure") {
  asio::io_context io;
  Log log;
  LogCollector collector(io, log.file);
  Pipe pipe;
  collector.add(5, std::move(pipe.read));
  pipe.put("loading\n");
  collector.flush();
  collector.ready(5);
  pipe.put("serving\n");
  pipe.write.reset();  // the worker exited
  CHECK(collector.remove(5).empty());
  CHECK(log.text() == "loading\nserving\n");
}

TEST_CASE("a burst of almost 1 MB passes through whole and in order") {
  asio::io_context io;
  Log log;
  LogCollector collector(io, log.file);
  Pipe pipe;
  ::fcntl(pipe.write.get(), F_SETPIPE_SZ, 1 << 20);
  collector.add(9, std::move(pipe.read));
  const std::string line(99, 'x');
  std::string expected;
  for (int i = 0; i < 9000; ++i) expected += line + "\n";  // 900 KB: fits the pipe
  pipe.put(expected);
  collector.flush();
  CHECK(log.text() == expected);
}

TEST_CASE("Asio's loop: the first line after a quiet spell is written at once, later ones in rounds") {
  asio::io_context io;
  Log log;
  LogCollector collector(io, log.file);
  Pipe pipe;
  collector.add(3, std::move(pipe.read));
  pipe.put("first\n");
  io.run_one();  // the wait on the pipes completes: a round reads and writes it
  CHECK(log.text() == "first\n");
  pipe.put("second\n");
  CHECK(log.text() == "first\n");  // nobody reads between rounds
  io.run_one();                    // the next round, kBatchInterval later
  CHECK(log.text() == "first\nsecond\n");
  io.run_one();  // a round with nothing: back to waiting on the pipes
  pipe.put("third\n");
  io.run_one();
  CHECK(log.text() == "first\nsecond\nthird\n");
}

TEST_CASE("LogFile: a log that cannot be written drops and counts lines, says so once, then resumes with a note") {
  Log log;
  Pipe notices;  // stderr, as a pipe: the file size limit below does not apply to it
  ferry::master::LogFile file(log.fd.get(), "/the/log", notices.write.get());
  file.write("first\n");
  // A file size limit makes write(2) fail as a full disk would, without a mount.
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
  const auto previous = ::signal(SIGXFSZ, SIG_IGN);  // else the limit kills the process
  const rlimit tight{10, before.rlim_max};
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &tight) == 0);
  file.write("second line\n");  // 4 bytes fit, then EFBIG: the rest of the line is lost
  file.write("third\n");
  file.write("fourth\nfifth\n");
  const bool active = file.outage().active();
  const auto dropped = file.outage().dropped();
  ::setrlimit(RLIMIT_FSIZE, &before);
  ::signal(SIGXFSZ, previous);
  CHECK(active);
  CHECK(dropped == 4);
  file.write("sixth\n");
  const std::string note =
      "ferry: 4 log lines dropped while /the/log could not be written (File too large (EFBIG)); logging resumes\n";
  CHECK(log.text() == "first\nseco\n" + note + "sixth\n");
  notices.write.reset();
  std::string told;
  char buffer[4096];
  for (ssize_t n; (n = ::read(notices.read.get(), buffer, sizeof buffer)) > 0;) told.append(buffer, n);
  CHECK(told == ferry::master::log_outage_notice("/the/log", EFBIG) + note);
  CHECK_FALSE(file.outage().active());
}

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("LogFile: log-maxsize rotates between lines, never over an earlier backup, and reopen follows the path") {
  char dir_template[] = "/tmp/ferry-rotate-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::filesystem::path dir(dir_template);
  const std::string path = (dir / "app.log").string();
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  REQUIRE(fd);
  Pipe notices;
  ferry::master::LogFile file(fd.get(), path, notices.write.get());
  file.set_rotation({200, ""});
  const auto lines = [](char c, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += std::string(19, c) + "\n";  // 20 bytes each
    return out;
  };
  file.write(lines('a', 9));                  // 180 bytes: fits
  file.write(lines('b', 1) + lines('c', 2));  // the first fits exactly, the others open a fresh file
  file.write(lines('d', 2) + lines('e', 3));  // another rotation, likely within the same second
  std::vector<std::filesystem::path> backups;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename() != "app.log") backups.push_back(entry.path());
  }
  std::sort(backups.begin(), backups.end());
  REQUIRE(backups.size() == 2);
  CHECK(slurp(backups[0]) == lines('a', 9) + lines('b', 1));
  // Each fresh file starts with a note (about 120 bytes here) naming the previous one.
  const std::string second = slurp(backups[1]);
  CHECK(second == ferry::master::log_rotated_note(200, backups[0].string()) + lines('c', 2) + lines('d', 2));
  CHECK(second.size() <= 200);
  CHECK(slurp(path) == ferry::master::log_rotated_note(200, backups[1].string()) + lines('e', 3));
  // After logrotate moved it: a reopen continues at the path, with the same descriptor.
  std::filesystem::rename(path, dir / "moved.log");
  CHECK(file.reopen().empty());
  file.write("after\n");
  CHECK(slurp(path) == "after\n");
  // Moved away by someone else, then full: left where it is, and a fresh file at the path.
  std::filesystem::rename(path, dir / "moved-again.log");
  file.write(lines('f', 10));
  CHECK(slurp(dir / "moved-again.log") == "after\n" + lines('f', 9));
  CHECK(slurp(path) == ferry::master::log_rotated_note(200, "") + lines('f', 1));
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 5);
  std::filesystem::remove_all(dir);
}
