#include "common/http_date.hpp"

#include <algorithm>
#include <array>
#include <chrono>

namespace ferry {
namespace {

namespace chrono = std::chrono;

// Indexed as std::chrono::weekday::c_encoding() (Sunday = 0) and month - 1; the protocol's
// names are English whatever the locale, so they are spelled out here, not taken from strftime.
constexpr std::array<std::string_view, 7> kDayNames{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDayNames{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                        "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonthNames{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// The range a 4-digit year can express.
constexpr std::time_t kFirstFormattable =
    chrono::sys_seconds{chrono::sys_days{chrono::year{0} / chrono::January / 1}}.time_since_epoch().count();
constexpr std::time_t kLastFormattable =
    chrono::sys_seconds{chrono::sys_days{chrono::year{9999} / chrono::December / 31}}.time_since_epoch().count() +
    86399;

char* put_digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

char* put_text(char* out, std::string_view text) {
  for (char c : text) *out++ = c;
  return out;
}

// Reads one of the fixed layouts left to right; any mismatch fails the whole layout.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool literal(std::string_view expected) {
    if (text_.substr(pos_, expected.size()) != expected) return false;
    pos_ += expected.size();
    return true;
  }

  // Exactly `count` decimal digits.
  bool digits(int count, int& value) {
    value = 0;
    for (int i = 0; i < count; ++i, ++pos_) {
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') return false;
      value = value * 10 + (text_[pos_] - '0');
    }
    return true;
  }

  // One of `names`; `index` is its position. The longest match wins, so "Sunday" is not
  // taken for "Sun" followed by junk.
  template <std::size_t N>
  bool one_of(const std::array<std::string_view, N>& names, int& index) {
    index = -1;
    std::size_t best = 0;
    for (std::size_t i = 0; i < N; ++i) {
      if (names[i].size() > best && text_.substr(pos_, names[i].size()) == names[i]) {
        index = static_cast<int>(i);
        best = names[i].size();
      }
    }
    pos_ += best;
    return index >= 0;
  }

  bool at_end() const { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

struct Fields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

bool time_of_day(Cursor& in, Fields& f) {
  return in.digits(2, f.hour) && in.literal(":") && in.digits(2, f.minute) && in.literal(":") && in.digits(2, f.second);
}

bool month(Cursor& in, Fields& f) {
  int index = 0;
  if (!in.one_of(kMonthNames, index)) return false;
  f.month = index + 1;
  return true;
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool imf_fixdate(Cursor in, Fields& f) {
  int weekday = 0;
  return in.one_of(kDayNames, weekday) && in.literal(", ") && in.digits(2, f.day) && in.literal(" ") && month(in, f) &&
         in.literal(" ") && in.digits(4, f.year) && in.literal(" ") && time_of_day(in, f) && in.literal(" GMT") &&
         in.at_end();
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; f.year holds the two digits.
bool rfc850_date(Cursor in, Fields& f) {
  int weekday = 0;
  return in.one_of(kLongDayNames, weekday) && in.literal(", ") && in.digits(2, f.day) && in.literal("-") &&
         month(in, f) && in.literal("-") && in.digits(2, f.year) && in.literal(" ") && time_of_day(in, f) &&
         in.literal(" GMT") && in.at_end();
}

// "Sun Nov  6 08:49:37 1994" (or "Nov 06").
bool asctime_date(Cursor in, Fields& f) {
  int weekday = 0;
  if (!(in.one_of(kDayNames, weekday) && in.literal(" ") && month(in, f) && in.literal(" "))) return false;
  if (!(in.literal(" ") ? in.digits(1, f.day) : in.digits(2, f.day))) return false;
  return in.literal(" ") && time_of_day(in, f) && in.literal(" ") && in.digits(4, f.year) && in.at_end();
}

int year_of(std::time_t t) {
  const auto day = chrono::floor<chrono::days>(chrono::sys_seconds{chrono::seconds{t}});
  return static_cast<int>(chrono::year_month_day{day}.year());
}

std::optional<std::time_t> to_time(const Fields& f) {
  const chrono::year_month_day date{chrono::year{f.year}, chrono::month{static_cast<unsigned>(f.month)},
                                    chrono::day{static_cast<unsigned>(f.day)}};
  if (!date.ok() || f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;
  // A leap second (:60) becomes the first second of the next minute, as timegm() does.
  return chrono::sys_seconds{chrono::sys_days{date}}.time_since_epoch().count() + f.hour * 3600 + f.minute * 60 +
         f.second;
}

}  // namespace

void format_http_date(std::time_t t, char* out) {
  t = std::clamp(t, kFirstFormattable, kLastFormattable);
  const chrono::sys_seconds when{chrono::seconds{t}};
  const auto day = chrono::floor<chrono::days>(when);
  const chrono::year_month_day date{day};
  const chrono::hh_mm_ss time{when - day};

  out = put_text(out, kDayNames[chrono::weekday{day}.c_encoding()]);
  out = put_text(out, ", ");
  out = put_digits(out, static_cast<unsigned>(date.day()), 2);
  *out++ = ' ';
  out = put_text(out, kMonthNames[static_cast<unsigned>(date.month()) - 1]);
  *out++ = ' ';
  out = put_digits(out, static_cast<unsigned>(static_cast<int>(date.year())), 4);
  *out++ = ' ';
  out = put_digits(out, static_cast<unsigned>(time.hours().count()), 2);
  *out++ = ':';
  out = put_digits(out, static_cast<unsigned>(time.minutes().count()), 2);
  *out++ = ':';
  out = put_digits(out, static_cast<unsigned>(time.seconds().count()), 2);
  put_text(out, " GMT");
}

std::string format_http_date(std::time_t t) {
  std::string text(kHttpDateSize, '\0');
  format_http_date(t, text.data());
  return text;
}

std::optional<std::time_t> parse_http_date(std::string_view text, std::time_t now) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);

  if (Fields f; imf_fixdate(Cursor{text}, f)) return to_time(f);
  if (Fields f; asctime_date(Cursor{text}, f)) return to_time(f);
  Fields f;
  if (!rfc850_date(Cursor{text}, f)) return std::nullopt;
  // RFC 9110: a year that looks more than 50 years ahead is the one a century earlier.
  // The window is kept symmetric so that a year far in the past moves forward too.
  const int this_year = year_of(now);
  int year = this_year - this_year % 100 + f.year;
  if (year > this_year + 50) year -= 100;
  if (year <= this_year - 50) year += 100;
  f.year = year;
  return to_time(f);
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
  // Only the obsolete RFC 850 form needs the current year; reading the clock is cheap anyway.
  return parse_http_date(text, std::time(nullptr));
}

std::string_view HttpDateClock::at(std::time_t t) {
  if (!valid_ || t != second_) {
    format_http_date(t, text_);
    second_ = t;
    valid_ = true;
  }
  return {text_, kHttpDateSize};
}

}  // namespace ferry
