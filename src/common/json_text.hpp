#pragma once

// Text on its way into a JSON string of a log line: quotes, backslashes and control bytes
// escaped as JSON says, valid UTF-8 kept, and each byte that is not part of valid UTF-8
// written as the six characters \\xHH (LogSafe's spelling), so every line parses and
// nothing a client sent is silently lost.

#include <string>
#include <string_view>

namespace ferry {

// Appends `text`, escaped, without the surrounding quotes.
void append_json_text(std::string& out, std::string_view text);

// Appends "text" with its quotes.
inline void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_text(out, text);
  out += '"';
}

// The length of the valid UTF-8 sequence at the start of `text`, or 0 if it starts with
// a byte that begins none (stray continuation, overlong form, surrogate, past U+10FFFF,
// cut short).
std::size_t utf8_sequence_length(std::string_view text);

}  // namespace ferry
