// src/master/log_rotation.cpp: when log-maxsize rotates, and where the full file goes.

#include "master/log_rotation.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <string>

using ferry::master::LogRotation;

TEST_CASE("without log-maxsize everything is written, whatever the size") {
  const LogRotation off;
  CHECK(off.fits(1ull << 40, "a\nb\n", false) == 4);
}

TEST_CASE("lines that keep the file within the limit are all written, with no rotation") {
  const LogRotation r{10, ""};
  CHECK(r.fits(0, "abcd\nefg\n", false) == 9);
  CHECK(r.fits(1, "abcd\nefg\n", false) == 10 - 1);  // exactly at the limit is not past it
}

TEST_CASE("a batch crossing the limit is cut after its last whole line that fits") {
  const LogRotation r{10, ""};
  CHECK(r.fits(2, "abcd\nefgh\n", false) == 5);  // 2 + 10 > 10: "abcd\n" fits, "efgh\n" goes to the next file
  CHECK(r.fits(5, "ab\ncd\nef\n", false) == 3);
  CHECK(r.fits(5, "abcdef\n", false) == 0);  // nothing fits: rotate first
}

TEST_CASE("a file already past the limit is rotated before anything is written") {
  const LogRotation r{10, ""};
  CHECK(r.fits(10, "a\n", false) == 0);
  CHECK(r.fits(25, "a\n", false) == 0);
}

TEST_CASE("a fresh file takes at least one line, even one longer than the limit") {
  const LogRotation r{4, ""};
  CHECK(r.fits(0, "0123456789\nab\n", false) == 11);  // an empty file is a fresh one
  CHECK(r.fits(1, "0123456789\nab\n", false) == 0);
  CHECK(r.fits(0, "0123456789\nab\n", true) == 11);
  CHECK(r.fits(70, "0123456789\nab\n", true) == 11);  // after the note that starts it
  CHECK(r.fits(0, "0123456789", true) == 10);
  CHECK(r.fits(0, "ab\n0123456789\n", true) == 3);
}

TEST_CASE("the default backup name is PATH.<UTC timestamp>, sortable, with a counter for the same second") {
  const LogRotation r{100, ""};
  const std::time_t t = 1796563665;  // 2026-12-06 13:27:45 UTC
  CHECK(r.backup_path("/var/log/app.log", t, 0) == "/var/log/app.log.20261206-132745");
  CHECK(r.backup_path("/var/log/app.log", t, 1) == "/var/log/app.log.20261206-132745.001");
  CHECK(r.backup_path("/var/log/app.log", t, 12) == "/var/log/app.log.20261206-132745.012");
  // Sorted by name is sorted by age.
  CHECK(r.backup_path("a", t, 0) < r.backup_path("a", t, 1));
  CHECK(r.backup_path("a", t, 999) < r.backup_path("a", t + 1, 0));
}

TEST_CASE("log-backupname is used as it is, every time") {
  const LogRotation r{100, "/var/log/app.log.old"};
  CHECK(r.backup_path("/var/log/app.log", 0, 0) == "/var/log/app.log.old");
  CHECK(r.backup_path("/var/log/app.log", 0, 3) == "/var/log/app.log.old");
}

TEST_CASE("a failed reopen or rotation names the fix, and the unprivileged user only when permissions are why") {
  using ferry::master::log_reopen_failure;
  using ferry::master::log_rotate_failure;
  CHECK(log_reopen_failure("cannot open /l", EACCES, 33).find("ferry runs as uid 33 since dropping privileges") !=
        std::string::npos);
  CHECK(log_reopen_failure("cannot open /l", EACCES, 0).find("uid") == std::string::npos);
  CHECK(log_reopen_failure("cannot open /l", ENOSPC, 33).find("uid") == std::string::npos);
  const std::string rotate = log_rotate_failure("/l", "/l.1", EPERM, 33);
  CHECK(rotate.find("rename /l to /l.1") != std::string::npos);
  CHECK(rotate.find("still writing to /l") != std::string::npos);
  CHECK(rotate.back() == '\n');
  CHECK(ferry::master::log_rotated_note(4096, "/l.1") ==
        "ferry: log rotated at log-maxsize = 4096; the lines before this are in /l.1\n");
}
