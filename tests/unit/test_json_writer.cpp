// src/common/json_writer.cpp: JSON objects, arrays and escaped strings, minified or laid out.

#include "common/json_writer.hpp"

#include <doctest/doctest.h>

#include <string>

using ferry::JsonWriter;

TEST_CASE("keys and strings are escaped as the JSON log lines escape them (json_text.hpp)") {
  JsonWriter out(/*minified=*/true);
  out.begin_object();
  out.string("a\"b", "say \"hi\"\\\n\xff");
  out.end_object();
  CHECK(out.take() == "{\"a\\\"b\":\"say \\\"hi\\\"\\\\\\n\\\\xff\"}");
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
