#pragma once

// A small streaming JSON writer: objects, arrays, strings, whole numbers, booleans. Output
// is either minified or laid out as uWSGI lays out its stats document (one member per
// line, tabs), so a diff against uWSGI's output reads line by line. Strings are escaped
// as in the JSON log lines (json_text.hpp): per RFC 8259, with bytes that are not valid
// UTF-8 written as the text \\xHH, so the document always parses, whatever a client put in
// a request line, and nothing it sent is lost. Pure: no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

class JsonWriter {
 public:
  explicit JsonWriter(bool minified) : minified_(minified) {}

  // `key` is the member name inside an object; leave it empty for an array element.
  void begin_object(std::string_view key = {});
  void end_object();
  void begin_array(std::string_view key = {});
  void end_array();

  void string(std::string_view key, std::string_view value);
  void number(std::string_view key, std::uint64_t value);
  void signed_number(std::string_view key, std::int64_t value);
  void real(std::string_view key, double value);  // finite; NaN and infinities are written as 0
  void boolean(std::string_view key, bool value);

  // The document; the writer is empty afterwards.
  std::string take();

 private:
  void member(std::string_view key);  // the comma, the line break and the key before a value
  void close(char bracket);

  bool minified_;
  std::string out_;
  std::vector<bool> has_members_;  // one per open object or array
};

}  // namespace ferry
