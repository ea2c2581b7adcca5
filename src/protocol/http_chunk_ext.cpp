#include "protocol/http_chunk_ext.hpp"

#include "protocol/http_text.hpp"

namespace ferry::protocol::http {

ChunkExtensions::Verdict ChunkExtensions::scan(std::string_view line, std::size_t& used) {
  for (used = 0; used < line.size(); ++used) {
    const auto c = static_cast<unsigned char>(line[used]);
    const bool space = c == ' ' || c == '\t';
    if ((c == '\r' || c == '\n') && state_ != State::quoted && state_ != State::quoted_pair) {
      if (state_ == State::name || state_ == State::token_value || state_ == State::value_end) return Verdict::end;
      why_ = state_ == State::after_size || state_ == State::name_space || state_ == State::value_space
                 ? "malformed chunk extensions: whitespace before the end of the chunk-size line"
                 : "malformed chunk extensions: the line ends inside an extension";
      return Verdict::bad;
    }
    switch (state_) {
      case State::after_size:  // only whitespace so far; a ';' must follow it
      case State::value_space:
        if (c == ';')
          state_ = State::semicolon;
        else if (!space)
          return fail("malformed chunk extensions: whitespace must be followed by ';'");
        break;
      case State::semicolon:
        if (is_tchar(c))
          state_ = State::name;
        else if (!space)
          return fail("malformed chunk extensions: an extension name must follow ';'");
        break;
      case State::name:
      case State::name_space:
        if (c == '=')
          state_ = State::equals;
        else if (c == ';')
          state_ = State::semicolon;
        else if (space)
          state_ = State::name_space;
        else if (!is_tchar(c) || state_ == State::name_space)
          return fail("malformed chunk extensions: an extension name must be a token");
        break;
      case State::equals:
        if (c == '"')
          state_ = State::quoted;
        else if (is_tchar(c))
          state_ = State::token_value;
        else if (!space)
          return fail("malformed chunk extensions: an extension value must be a token or a quoted string");
        break;
      case State::token_value:
        if (c == ';')
          state_ = State::semicolon;
        else if (space)
          state_ = State::value_space;
        else if (!is_tchar(c))
          return fail("malformed chunk extensions: an extension value must be a token or a quoted string");
        break;
      case State::quoted:  // qdtext: HTAB, SP, VCHAR but '"' and '\', obs-text
        if (c == '"')
          state_ = State::value_end;
        else if (c == '\\')
          state_ = State::quoted_pair;
        else if (!space && (c < 0x21 || c == 0x7f))
          return fail("malformed chunk extensions: a control byte in a quoted extension value");
        break;
      case State::quoted_pair:
        if (!space && (c < 0x21 || c == 0x7f))
          return fail("malformed chunk extensions: a control byte in a quoted extension value");
        state_ = State::quoted;
        break;
      case State::value_end:
        if (c == ';')
          state_ = State::semicolon;
        else if (space)
          state_ = State::value_space;
        else
          return fail("malformed chunk extensions: a quoted extension value must be followed by ';' or the line end");
        break;
    }
  }
  return Verdict::more;
}

}  // namespace ferry::protocol::http
