// src/common/http_date.cpp: IMF-fixdate out, the three RFC 9110 forms in.

#include "common/http_date.hpp"

#include <doctest/doctest.h>

#include <limits>

using namespace ferry;

namespace {
constexpr std::time_t kRfcExample = 784111777;  // RFC 9110's "Sun, 06 Nov 1994 08:49:37 GMT"
constexpr std::time_t kNow2025 = 1750000000;    // 2025-06-15
}  // namespace

TEST_CASE("format_http_date writes IMF-fixdate") {
  CHECK(format_http_date(kRfcExample) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(format_http_date(-1) == "Wed, 31 Dec 1969 23:59:59 GMT");
  CHECK(format_http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");   // a leap day
  CHECK(format_http_date(2147483648) == "Tue, 19 Jan 2038 03:14:08 GMT");  // past 32-bit time_t
  CHECK(format_http_date(253402300799) == "Fri, 31 Dec 9999 23:59:59 GMT");
  CHECK(format_http_date(kRfcExample).size() == kHttpDateSize);
}

TEST_CASE("format_http_date clamps times a 4-digit year cannot express") {
  CHECK(format_http_date(std::numeric_limits<std::time_t>::max()) == "Fri, 31 Dec 9999 23:59:59 GMT");
  CHECK(format_http_date(253402300800) == "Fri, 31 Dec 9999 23:59:59 GMT");
  CHECK(format_http_date(std::numeric_limits<std::time_t>::min()) == "Sat, 01 Jan 0000 00:00:00 GMT");
}

TEST_CASE("format_http_date into a buffer writes exactly kHttpDateSize bytes") {
  char buffer[kHttpDateSize + 1];
  buffer[kHttpDateSize] = '!';
  format_http_date(kRfcExample, buffer);
  CHECK(std::string_view(buffer, kHttpDateSize) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(buffer[kHttpDateSize] == '!');
}

TEST_CASE("parse_http_date reads all three forms") {
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == kRfcExample);
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", kNow2025) == kRfcExample);
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == kRfcExample);
  CHECK(parse_http_date("Sun Nov 06 08:49:37 1994") == kRfcExample);
  // Surrounding whitespace is not part of the value.
  CHECK(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t") == kRfcExample);
  CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  CHECK(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT") == 951782400);
  CHECK(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT") == -1);
  CHECK(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT") == 253402300799);
}

TEST_CASE("parse_http_date: the day name is checked for spelling, not against the date") {
  CHECK(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT") == kRfcExample);
  CHECK_FALSE(parse_http_date("Sux, 06 Nov 1994 08:49:37 GMT"));
  CHECK_FALSE(parse_http_date("Sunday, 06 Nov 1994 08:49:37 GMT"));  // long name, fixdate layout
  CHECK_FALSE(parse_http_date("Sun, 06-Nov-94 08:49:37 GMT"));       // short name, RFC 850 layout
}

TEST_CASE("parse_http_date: RFC 850 two-digit years fall within 50 years of now") {
  const std::time_t now = kNow2025;
  CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT", now) == parse_http_date("Tue, 01 Jan 2070 00:00:00 GMT"));
  CHECK(parse_http_date("Sunday, 01-Jan-76 00:00:00 GMT", now) == parse_http_date("Thu, 01 Jan 1976 00:00:00 GMT"));
  CHECK(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT", now) == 946684800);
  CHECK(parse_http_date("Saturday, 15-Jun-75 00:00:00 GMT", now) == parse_http_date("Sat, 15 Jun 2075 00:00:00 GMT"));
  // Read in 2090, "10" is 2110 (20 years ahead), not 2010 (80 years back).
  const std::time_t in_2090 = *parse_http_date("Sun, 01 Jan 2090 00:00:00 GMT");
  CHECK(parse_http_date("Monday, 01-Jan-10 00:00:00 GMT", in_2090) == parse_http_date("Wed, 01 Jan 2110 00:00:00 GMT"));
}

TEST_CASE("parse_http_date rejects anything else") {
  for (const char* garbage : {
           "",
           "   ",
           "yesterday",
           "Sun, 06 Nov 1994 08:49:37",        // no zone
           "Sun, 06 Nov 1994 08:49:37 UTC",    // only GMT
           "Sun, 06 Nov 1994 08:49:37 GMT x",  // trailing junk
           "Sun, 06 Nov 1994 08:49:37 GMT; length=12",
           "sun, 06 nov 1994 08:49:37 gmt",       // case-sensitive
           "Sun, 6 Nov 1994 08:49:37 GMT",        // 2DIGIT day
           "Sun, 06 Nov 94 08:49:37 GMT",         // 4DIGIT year
           "Sun, 06 November 1994 08:49:37 GMT",  //
           "Sun, 06 Nov 1994 8:49:37 GMT",        //
           "Sun, 06 Nov 1994 08:49 GMT",          //
           "Sun, 00 Nov 1994 08:49:37 GMT",       // day 0
           "Sun, 31 Nov 1994 08:49:37 GMT",       // November has 30
           "Tue, 29 Feb 2100 00:00:00 GMT",       // 2100 is not a leap year
           "Sun, 06 Nov 1994 24:00:00 GMT",       //
           "Sun, 06 Nov 1994 08:60:00 GMT",       //
           "Sun, 06 Nov 1994 08:49:61 GMT",       //
           "Sun, 06 Nov 1994 08:49:37 GMT\n",     // a newline is not whitespace here
           "Sun Nov 6 08:49:37 1994",             // asctime pads the day to two
           "Sun Nov  6 08:49:37 1994 GMT",        //
           "Sunday, 06-Nov-1994 08:49:37 GMT",    //
           "1994-11-06T08:49:37Z",                // ISO 8601 is not an HTTP-date
           "784111777",
       }) {
    CAPTURE(garbage);
    CHECK_FALSE(parse_http_date(garbage, kNow2025));
  }
  CHECK_FALSE(parse_http_date(std::string_view("Sun, 06 Nov 1994 08:49:37 GMT\0", 30)));
}

TEST_CASE("parse_http_date accepts a leap second as the next minute's first") {
  CHECK(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == 1483228800);
}

TEST_CASE("format and parse round-trip") {
  for (std::time_t t :
       {std::time_t{0}, std::time_t{-1}, kRfcExample, std::time_t{951782400}, std::time_t{1700000000},
        std::time_t{2147483648}, std::time_t{4102444800}, std::time_t{253402300799}, std::time_t{-2208988800}}) {
    CAPTURE(t);
    CHECK(parse_http_date(format_http_date(t)) == t);
  }
  // One step per ~41 days and ~7 hours, across 1970..2100, so every month and weekday shows up.
  for (std::time_t t = 0; t < 4102444800; t += 3573217) {
    REQUIRE(parse_http_date(format_http_date(t)) == t);
  }
}

TEST_CASE("HttpDateClock reformats only when the second changes") {
  HttpDateClock clock;
  const std::string_view first = clock.at(kRfcExample);
  CHECK(first == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(clock.at(kRfcExample).data() == first.data());  // same buffer
  CHECK(clock.at(kRfcExample + 1) == "Sun, 06 Nov 1994 08:49:38 GMT");
  CHECK(clock.at(-1) == "Wed, 31 Dec 1969 23:59:59 GMT");  // -1 is a time, not "unset"

  HttpDateClock fresh;
  CHECK(fresh.at(-1) == "Wed, 31 Dec 1969 23:59:59 GMT");
  const auto now = parse_http_date(fresh.now());
  REQUIRE(now);
  CHECK(*now <= std::time(nullptr));
  CHECK(*now >= std::time(nullptr) - 2);
}
