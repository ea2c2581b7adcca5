#include "protocol/uwsgi.hpp"

#include <charconv>
#include <limits>
#include <unordered_map>

namespace ferry::protocol {
namespace {

std::uint16_t read_u16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) | (static_cast<unsigned char>(p[1]) << 8));
}

void append_u16(std::string& out, std::size_t value) {
  out.push_back(static_cast<char>(value & 0xff));
  out.push_back(static_cast<char>((value >> 8) & 0xff));
}

// nginx 1.23+ joins a repeated request header (HTTP_*) with ", ", except Cookie, which it joins
// with "; " (RFC 6265). nginx 1.22 (Debian 12) sends the repeats as separate vars; merging
// here means the app sees one value whichever nginx is in front.
std::string_view separator_for(std::string_view key) { return key == "HTTP_COOKIE" ? "; " : ", "; }

// Requests from nginx carry a few dozen vars: up to this many, a linear scan with a cheap
// length/last-byte reject beats hashing every key. A packet with thousands of distinct
// vars switches to a hash index, so it cannot cost quadratic time.
constexpr std::size_t kLinearScanLimit = 64;

// Finds an earlier var with the same key. Repeats are rare, so the common case must be
// cheap: a 512-bit filter of key signatures answers "certainly new" for almost every key
// without comparing it with the earlier ones (callgrind: the scan was 9% of a hello-world
// request's instructions).
class KeyIndex {
 public:
  int find(const std::vector<Var>& vars, std::string_view key) {
    const std::size_t signature = (key.size() * 31 + static_cast<unsigned char>(key.back()) * 7 +
                                   static_cast<unsigned char>(key[key.size() / 2])) %
                                  kFilterBits;
    const std::uint64_t bit = std::uint64_t{1} << (signature % 64);
    std::uint64_t& word = filter_[signature / 64];
    if ((word & bit) == 0) {
      word |= bit;
      return -1;
    }
    if (vars.size() <= kLinearScanLimit) {
      for (std::size_t i = 0; i < vars.size(); ++i) {
        const auto& k = vars[i].key;
        if (k.size() == key.size() && k.back() == key.back() && k == key) return static_cast<int>(i);
      }
      return -1;
    }
    for (; indexed_ < vars.size(); ++indexed_) by_key_.emplace(vars[indexed_].key, indexed_);
    const auto it = by_key_.find(key);
    return it == by_key_.end() ? -1 : static_cast<int>(it->second);
  }

 private:
  static constexpr std::size_t kFilterBits = 512;
  std::uint64_t filter_[kFilterBits / 64] = {};
  std::unordered_map<std::string_view, std::size_t> by_key_;
  std::size_t indexed_ = 0;
};

}  // namespace

std::string_view describe(Error error) {
  switch (error) {
    case Error::none: return "no error";
    case Error::vars_too_large: return "vars block larger than buffer-size";
    case Error::truncated_key_size: return "vars block ends inside a key length";
    case Error::key_overruns: return "a key runs past the end of the vars block";
    case Error::empty_key: return "a var has an empty name";
    case Error::truncated_value_size: return "vars block ends inside a value length";
    case Error::value_overruns: return "a value runs past the end of the vars block";
    case Error::too_many_vars: return "more vars than ferry accepts in one request";
  }
  return "unknown error";
}

PacketHeader decode_header(const char* bytes) {
  return {static_cast<std::uint8_t>(bytes[0]), read_u16(bytes + 1), static_cast<std::uint8_t>(bytes[3])};
}

ParseResult parse_packet(std::string_view buffer, std::size_t max_vars_size, Packet& out) {
  out.clear();
  if (buffer.size() < kHeaderSize) return {Status::need_more, Error::none, kHeaderSize};
  out.header = decode_header(buffer.data());
  const std::size_t datasize = out.header.datasize;
  if (datasize > max_vars_size) return {Status::invalid, Error::vars_too_large, 0};
  const std::size_t total = kHeaderSize + datasize;
  if (buffer.size() < total) return {Status::need_more, Error::none, total};

  out.packet_size = total;
  out.vars_bytes = datasize;
  // Only modifier1 0 carries CGI vars; a ping or a foreign modifier is judged by its header.
  if (out.header.modifier1 != kModifierWsgi) return {Status::complete, Error::none, total};

  const char* p = buffer.data() + kHeaderSize;
  const char* const end = buffer.data() + total;
  std::vector<std::pair<std::size_t, std::string_view>> repeats;  // (index, extra value)
  KeyIndex earlier_keys;
  while (p < end) {
    if (end - p < 2) return {Status::invalid, Error::truncated_key_size, 0};
    const std::size_t keylen = read_u16(p);
    p += 2;
    if (keylen == 0) return {Status::invalid, Error::empty_key, 0};
    if (static_cast<std::size_t>(end - p) < keylen) return {Status::invalid, Error::key_overruns, 0};
    const std::string_view key(p, keylen);
    p += keylen;
    if (end - p < 2) return {Status::invalid, Error::truncated_value_size, 0};
    const std::size_t vallen = read_u16(p);
    p += 2;
    if (static_cast<std::size_t>(end - p) < vallen) return {Status::invalid, Error::value_overruns, 0};
    const std::string_view value(p, vallen);
    p += vallen;

    if (const int earlier = earlier_keys.find(out.vars, key); earlier >= 0) {
      if (key.starts_with("HTTP_")) {
        repeats.emplace_back(static_cast<std::size_t>(earlier), value);
      } else {
        // A CGI var given twice is `include uwsgi_params` followed by an override such as
        // `uwsgi_param REMOTE_ADDR $http_x_real_ip`: the later one wins, as in uWSGI.
        out.vars[static_cast<std::size_t>(earlier)].value = value;
      }
      continue;
    }
    if (out.vars.size() == kMaxVars) return {Status::invalid, Error::too_many_vars, 0};
    out.vars.push_back({key, value});
  }

  if (!repeats.empty()) {
    // Build every merged value first, then take views: `merged` must not reallocate
    // after a view into it exists.
    std::vector<std::size_t> merged_index(out.vars.size(), std::numeric_limits<std::size_t>::max());
    for (const auto& [index, value] : repeats) {
      if (merged_index[index] == std::numeric_limits<std::size_t>::max()) {
        merged_index[index] = out.merged.size();
        out.merged.emplace_back(out.vars[index].value);
      }
      auto& joined = out.merged[merged_index[index]];
      joined += separator_for(out.vars[index].key);
      joined += value;
    }
    for (std::size_t i = 0; i < out.vars.size(); ++i) {
      if (merged_index[i] != std::numeric_limits<std::size_t>::max()) {
        out.vars[i].value = out.merged[merged_index[i]];
      }
    }
  }
  return {Status::complete, Error::none, total};
}

std::optional<std::uint64_t> parse_content_length(std::string_view value) {
  if (value.empty()) return 0;
  std::uint64_t result = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
  return result;
}

std::string encode_packet(const std::vector<std::pair<std::string, std::string>>& vars, std::uint8_t modifier1,
                          std::uint8_t modifier2) {
  std::string block;
  for (const auto& [key, value] : vars) {
    append_u16(block, key.size());
    block += key;
    append_u16(block, value.size());
    block += value;
  }
  std::string packet;
  packet.push_back(static_cast<char>(modifier1));
  append_u16(packet, block.size());
  packet.push_back(static_cast<char>(modifier2));
  return packet + block;
}

}  // namespace ferry::protocol
