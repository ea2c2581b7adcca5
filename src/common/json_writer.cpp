#include "common/json_writer.hpp"

#include <cmath>
#include <fmt/format.h>

namespace ferry {
namespace {

// The length of the valid UTF-8 sequence at the start of `s`, or 0 if it is not one
// (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_sequence(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, code = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, code = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, code = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3f);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  if (overlong || surrogate || code > 0x10ffff) return 0;
  return length;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  while (!text.empty()) {
    const unsigned char c = static_cast<unsigned char>(text.front());
    if (c >= 0x80) {
      const std::size_t length = utf8_sequence(text);
      if (length == 0) {
        out += "\xef\xbf\xbd";  // U+FFFD REPLACEMENT CHARACTER
        text.remove_prefix(1);
      } else {
        out.append(text.substr(0, length));
        text.remove_prefix(length);
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
    text.remove_prefix(1);
  }
}

void JsonWriter::member(std::string_view key) {
  if (!has_members_.empty()) {
    if (has_members_.back()) out_ += ',';
    has_members_.back() = true;
    if (!minified_) {
      out_ += '\n';
      out_.append(has_members_.size(), '\t');
    }
  }
  if (!key.empty()) {
    out_ += '"';
    append_json_string(out_, key);
    out_ += "\":";
  }
}

void JsonWriter::begin_object(std::string_view key) {
  member(key);
  out_ += '{';
  has_members_.push_back(false);
}

void JsonWriter::begin_array(std::string_view key) {
  member(key);
  out_ += '[';
  has_members_.push_back(false);
}

void JsonWriter::close(char bracket) {
  const bool had_members = has_members_.back();
  has_members_.pop_back();
  if (!minified_ && had_members) {
    out_ += '\n';
    out_.append(has_members_.size(), '\t');
  }
  out_ += bracket;
}

void JsonWriter::end_object() { close('}'); }
void JsonWriter::end_array() { close(']'); }

void JsonWriter::string(std::string_view key, std::string_view value) {
  member(key);
  out_ += '"';
  append_json_string(out_, value);
  out_ += '"';
}

void JsonWriter::number(std::string_view key, std::uint64_t value) {
  member(key);
  fmt::format_to(std::back_inserter(out_), "{}", value);
}

void JsonWriter::signed_number(std::string_view key, std::int64_t value) {
  member(key);
  fmt::format_to(std::back_inserter(out_), "{}", value);
}

void JsonWriter::real(std::string_view key, double value) {
  member(key);
  // Always with a fraction, so a reader typing the value never sees an integer.
  fmt::format_to(std::back_inserter(out_), "{:.6f}", std::isfinite(value) ? value : 0.0);
}

void JsonWriter::boolean(std::string_view key, bool value) {
  member(key);
  out_ += value ? "true" : "false";
}

std::string JsonWriter::take() {
  if (!minified_) out_ += '\n';
  std::string done = std::move(out_);
  out_.clear();
  has_members_.clear();
  return done;
}

}  // namespace ferry
