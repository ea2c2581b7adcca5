#pragma once

// HTTP dates (RFC 9110 5.6.7): Date and Last-Modified are written as IMF-fixdate,
// "Sun, 06 Nov 1994 08:49:37 GMT"; If-Modified-Since may arrive in that form or in one of
// the two obsolete ones a recipient must still accept. No locale, no static buffers, so
// any thread may call these.

#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

// An IMF-fixdate is always exactly this long.
inline constexpr std::size_t kHttpDateSize = 29;

// Writes the IMF-fixdate of `t` into `out[0..kHttpDateSize)`, without a terminating NUL.
// Times before year 0 or after 9999 (which have no 4-digit year) are clamped to those years.
void format_http_date(std::time_t t, char* out);
std::string format_http_date(std::time_t t);

// Accepts exactly one of (surrounding spaces and tabs ignored):
//   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
//   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"
//   asctime      "Sun Nov  6 08:49:37 1994"   (the day may also be "06")
// Names are case-sensitive, as the grammar says; the day name must be a real one but is
// not checked against the date (it is redundant). A day that the month does not have,
// or an hour/minute/second out of range (60 is allowed: a leap second) is rejected.
// An RFC 850 two-digit year is read as the latest year with those digits that is not
// more than 50 years after `now`'s year (RFC 9110's rule); the overload without `now`
// uses the current time.
std::optional<std::time_t> parse_http_date(std::string_view text, std::time_t now);
std::optional<std::time_t> parse_http_date(std::string_view text);

// The Date header at no cost per request: the text is rebuilt only when the second
// changes. Not synchronised: one per thread (or a thread_local).
class HttpDateClock {
 public:
  // The IMF-fixdate of the current time; valid until the next call.
  std::string_view now() { return at(std::time(nullptr)); }
  // The same for a given time (tests, or a caller that already read the clock).
  std::string_view at(std::time_t t);

 private:
  std::time_t second_ = -1;
  bool valid_ = false;
  char text_[kHttpDateSize] = {};
};

}  // namespace ferry
