// src/common/json_writer.cpp: JSON objects, arrays and escaped strings, minified or laid out.

#include "common/json_writer.hpp"

#include <doctest/doctest.h>

#include <string>

using ferry::append_json_string;
using ferry::JsonWriter;

namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace

TEST_CASE("strings: quotes, backslashes and control bytes are escaped, UTF-8 kept") {
  CHECK(escaped("plain /path?a=1") == "plain /path?a=1");
  CHECK(escaped("say \"hi\"\\") == "say \\\"hi\\\"\\\\");
  CHECK(escaped("a\nb\rc\td\be\ff") == "a\\nb\\rc\\td\\be\\ff");
  CHECK(escaped(std::string_view("\x00\x01\x1f\x7f", 4)) == "\\u0000\\u0001\\u001f\\u007f");
  CHECK(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST_CASE("strings: bytes that are not UTF-8 become U+FFFD, one per byte, and the rest survives") {
  const std::string replacement = "\xef\xbf\xbd";
  CHECK(escaped("a\xff"
                "b") == "a" + replacement + "b");
  CHECK(escaped("\xc3") == replacement);                                                        // cut short
  CHECK(escaped("\xc0\xaf") == replacement + replacement);                                      // overlong '/'
  CHECK(escaped("\xed\xa0\x80") == replacement + replacement + replacement);                    // a surrogate
  CHECK(escaped("\xf4\x90\x80\x80") == replacement + replacement + replacement + replacement);  // past U+10FFFF
}

TEST_CASE("minified: no whitespace, commas only between members") {
  JsonWriter out(/*minified=*/true);
  out.begin_object();
  out.string("name", "x\"y");
  out.number("n", 18446744073709551615ULL);
  out.signed_number("s", -3);
  out.boolean("b", false);
  out.real("r", 0.25);
  out.begin_array("list");
  out.number({}, 1);
  out.begin_object();
  out.end_object();
  out.end_array();
  out.begin_array("empty");
  out.end_array();
  out.end_object();
  CHECK(out.take() ==
        "{\"name\":\"x\\\"y\",\"n\":18446744073709551615,\"s\":-3,\"b\":false,\"r\":0.250000,\"list\":[1,{}],"
        "\"empty\":[]}");
}

TEST_CASE("laid out as uWSGI does: one member per line, indented with tabs") {
  JsonWriter out(/*minified=*/false);
  out.begin_object();
  out.number("a", 1);
  out.begin_array("b");
  out.string({}, "c");
  out.end_array();
  out.end_object();
  CHECK(out.take() == "{\n\t\"a\":1,\n\t\"b\":[\n\t\t\"c\"\n\t]\n}\n");
}

TEST_CASE("a real that is not finite is written as 0, so the document still parses") {
  JsonWriter out(true);
  out.begin_array();
  out.real({}, 1.0 / 0.0);
  out.end_array();
  CHECK(out.take() == "[0.000000]");
}
