// src/protocol/http_chunk_ext.cpp: the chunk-extension grammar of RFC 9112 7.1.1, which
// ferry checks itself (rejection 9 of http.cpp). Each case feeds the bytes after a chunk
// size's hex digits, up to and including the line's CR.

#include "protocol/http_chunk_ext.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using ferry::protocol::http::ChunkExtensions;
using Verdict = ChunkExtensions::Verdict;

namespace {

struct Scan {
  Verdict verdict;
  std::size_t used;
  std::string why;
};

Scan scan_whole(std::string_view line) {
  ChunkExtensions extensions;
  extensions.start();
  std::size_t used = 0;
  const Verdict verdict = extensions.scan(line, used);
  return {verdict, used, extensions.why()};
}

// The same line a byte at a time: the verdict must not depend on how the bytes arrive.
Verdict scan_bytewise(std::string_view line) {
  ChunkExtensions extensions;
  extensions.start();
  for (const char c : line) {
    std::size_t used = 0;
    const Verdict verdict = extensions.scan(std::string_view(&c, 1), used);
    if (verdict != Verdict::more) return verdict;
  }
  return Verdict::more;
}

}  // namespace

TEST_CASE("valid chunk extensions end at the line's CR") {
  for (const std::string_view line : {";a\r", ";a=b\r", ";a=b;c\r", " ; a = b\r", ";a=\"q \\\" d\"\r", ";a=\"x\";b=y\r",
                                      "\t;name\t=\ttok\r", ";a;b;c=1\r", ";a=\"\"\r"}) {
    CAPTURE(line);
    const Scan result = scan_whole(line);
    CHECK(result.verdict == Verdict::end);
    CHECK(result.used == line.size() - 1);  // stops on the CR, which llhttp reads
    CHECK(scan_bytewise(line) == Verdict::end);
  }
}

TEST_CASE("an unfinished extension asks for more") {
  for (const std::string_view line : {";a", ";a=\"open", " ", ";a=b;"}) {
    CAPTURE(line);
    const Scan result = scan_whole(line);
    CHECK(result.verdict == Verdict::more);
    CHECK(result.used == line.size());
  }
}

TEST_CASE("malformed chunk extensions are refused, with a reason") {
  struct Case {
    std::string_view line;
    std::string_view why;
  };
  for (const Case& c : {
           Case{" \r", "whitespace before the end of the chunk-size line"},
           Case{";a \r", "whitespace before the end of the chunk-size line"},
           Case{";a=b \r", "whitespace before the end of the chunk-size line"},
           Case{";\r", "the line ends inside an extension"},
           Case{";a=\r", "the line ends inside an extension"},
           Case{" x\r", "whitespace must be followed by ';'"},
           Case{";=b\r", "an extension name must follow ';'"},
           Case{";a b\r", "an extension name must be a token"},
           Case{";a@\r", "an extension name must be a token"},
           Case{";a=@\r", "an extension value must be a token or a quoted string"},
           Case{";a=b@\r", "an extension value must be a token or a quoted string"},
           Case{";a=\"x\"y\r", "a quoted extension value must be followed by ';' or the line end"},
           Case{";a=\"\x01\"\r", "a control byte in a quoted extension value"},
           Case{";a=\"\\\x7f\"\r", "a control byte in a quoted extension value"},
       }) {
    CAPTURE(c.line);
    const Scan result = scan_whole(c.line);
    CHECK(result.verdict == Verdict::bad);
    CHECK(result.why == "malformed chunk extensions: " + std::string(c.why));
    CHECK(scan_bytewise(c.line) == Verdict::bad);
  }
}

TEST_CASE("a CR or LF inside a quoted value is not the line's end") {
  // Not "end": the quoted string swallows it, and the control byte check refuses it.
  CHECK(scan_whole(";a=\"x\ry\"\r").verdict == Verdict::bad);
  CHECK(scan_whole(";a=b\n").verdict == Verdict::end);
}
