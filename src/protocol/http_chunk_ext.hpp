#pragma once

// The grammar of chunk extensions, checked by ferry rather than llhttp (rejection 9 in
// http.cpp): llhttp 8.1 refuses the BWS RFC 9112 allows, and ferry ignores extensions
// anyway. Pure: no llhttp, no I/O.

#include <cstddef>
#include <string_view>

namespace ferry::protocol::http {

// Rejection 9: the chunk-size line's extensions, RFC 9112 7.1.1:
//   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-val = token / quoted-string
// Fed consecutive slices of one chunk-size line, from the first byte after the size's hex
// digits; keeps its state between slices, so an extension may arrive a byte at a time.
class ChunkExtensions {
 public:
  enum class Verdict { more, end, bad };

  // Reads `line` up to its CR or LF. `end` says where that is (`used` bytes in); `bad`,
  // with why(), where the grammar broke; `more` that every byte was used.
  Verdict scan(std::string_view line, std::size_t& used);
  // Begins a line's extensions at the byte after the size: ';' or BWS.
  void start() { state_ = State::after_size; }
  const char* why() const { return why_; }

 private:
  enum class State {
    after_size,
    semicolon,
    name,
    name_space,
    equals,
    token_value,
    quoted,
    quoted_pair,
    value_end,
    value_space,
  };
  Verdict fail(const char* why) {
    why_ = why;
    return Verdict::bad;
  }
  State state_ = State::after_size;
  const char* why_ = "";
};

}  // namespace ferry::protocol::http
