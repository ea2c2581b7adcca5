#pragma once

// The uwsgi wire format as nginx's ngx_http_uwsgi_module speaks it. Pure: no I/O, no
// allocation beyond the caller's Packet, so every truncation point is unit-testable and
// the fuzzer can drive it directly.
//
//   header: u8 modifier1 | u16 datasize (little-endian) | u8 modifier2
//   vars:   datasize bytes of { u16 keylen | key | u16 vallen | value }
//   body:   CONTENT_LENGTH bytes, unframed, after the vars

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::protocol {

inline constexpr std::size_t kHeaderSize = 4;
// datasize is a u16, so this is also the largest vars block nginx can send.
inline constexpr std::size_t kMaxVarsSize = 65535;
// Far above what nginx forwards (its header buffers cap a request's headers), low enough
// that a hostile packet of 5-byte vars cannot make us build an enormous environ.
inline constexpr std::size_t kMaxVars = 4096;

inline constexpr std::uint8_t kModifierWsgi = 0;
inline constexpr std::uint8_t kModifierPing = 100;
// The answer to a ping: modifier1 100, no data, modifier2 1 ("pong").
inline constexpr char kPong[kHeaderSize] = {100, 0, 0, 1};

struct PacketHeader {
  std::uint8_t modifier1 = 0;
  std::uint16_t datasize = 0;
  std::uint8_t modifier2 = 0;
};

struct Var {
  std::string_view key;
  std::string_view value;
};

enum class Status { complete, need_more, invalid };

enum class Error {
  none,
  vars_too_large,      // datasize above the configured buffer-size
  truncated_key_size,  // one byte left where a u16 key length belongs
  key_overruns,        // key length points past the vars block
  empty_key,
  truncated_value_size,
  value_overruns,
  too_many_vars,
};

// A human-readable reason, for the one log line a bad packet costs.
std::string_view describe(Error error);

struct Packet {
  PacketHeader header;
  // In arrival order; a key sent more than once appears once, at its first position: a
  // header (HTTP_*) with its values joined the way nginx 1.23+ joins repeated headers,
  // any other var with its last value (a uwsgi_param overriding uwsgi_params).
  std::vector<Var> vars;
  std::size_t packet_size = 0;  // header + vars block: where the body starts in the buffer
  std::size_t vars_bytes = 0;   // datasize, for the request log

  // Backing store for merged values; views in `vars` may point here. A deque-like
  // stability is not needed: it is sized before any view into it is taken.
  std::vector<std::string> merged;

  void clear() {
    vars.clear();
    merged.clear();
    packet_size = vars_bytes = 0;
  }
};

struct ParseResult {
  Status status = Status::need_more;
  Error error = Error::none;
  // With need_more: how many bytes the buffer must hold before parsing can finish.
  std::size_t bytes_needed = kHeaderSize;
};

PacketHeader decode_header(const char* bytes);

// Parses the header and vars at the start of `buffer`. Views in `out.vars` point into
// `buffer` (or into out.merged), so the buffer must outlive them.
ParseResult parse_packet(std::string_view buffer, std::size_t max_vars_size, Packet& out);

// CONTENT_LENGTH as nginx sends it: empty (GET) means 0; anything but digits is invalid.
std::optional<std::uint64_t> parse_content_length(std::string_view value);

// Serialises vars into a packet; used by tests, the fuzzer and the benchmark client.
std::string encode_packet(const std::vector<std::pair<std::string, std::string>>& vars,
                          std::uint8_t modifier1 = kModifierWsgi, std::uint8_t modifier2 = 0);

}  // namespace ferry::protocol
