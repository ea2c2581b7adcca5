// src/common/json_text.cpp: any bytes into a JSON string that parses.

#include "common/json_text.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry;

namespace {
std::string json(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}
}  // namespace

TEST_CASE("plain text and valid UTF-8 stay as they are") {
  CHECK(json("GET /a?b=c") == "\"GET /a?b=c\"");
  CHECK(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST_CASE("quotes, backslashes and control bytes are JSON escapes") {
  CHECK(json("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json("x\r\ny\t") == "\"x\\r\\ny\\t\"");
  CHECK(json(std::string("\x1b[2J\x7f\0", 6)) == "\"\\u001b[2J\\u007f\\u0000\"");
}

TEST_CASE("invalid UTF-8 bytes become \\\\xHH text") {
  CHECK(json("\xff") == "\"\\\\xff\"");
  CHECK(json("a\xc3") == "\"a\\\\xc3\"");                                // cut short
  CHECK(json("\xc0\xaf") == "\"\\\\xc0\\\\xaf\"");                       // overlong
  CHECK(json("\xed\xa0\x80") == "\"\\\\xed\\\\xa0\\\\x80\"");            // a surrogate
  CHECK(json("\xf4\x90\x80\x80").find("\\\\xf4") != std::string::npos);  // past U+10FFFF
  CHECK(json("\x80z") == "\"\\\\x80z\"");
}

TEST_CASE("utf8_sequence_length") {
  CHECK(utf8_sequence_length("a") == 1);
  CHECK(utf8_sequence_length("\xc3\xa9") == 2);
  CHECK(utf8_sequence_length("\xe2\x82\xac") == 3);
  CHECK(utf8_sequence_length("\xf0\x9f\x98\x80") == 4);
  CHECK(utf8_sequence_length("\xe2\x82") == 0);
  CHECK(utf8_sequence_length("") == 0);
}
