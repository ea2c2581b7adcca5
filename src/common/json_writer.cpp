#include "common/json_writer.hpp"

#include "common/json_text.hpp"

#include <cmath>
#include <fmt/format.h>

namespace ferry {
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
    append_json_string(out_, key);
    out_ += ':';
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
  append_json_string(out_, value);
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
