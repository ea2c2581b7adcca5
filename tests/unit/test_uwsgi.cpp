// src/protocol/uwsgi.cpp: the packet codec, at every truncation point and malformation.

#include "protocol/uwsgi.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>

using namespace ferry::protocol;

namespace {

// A little-endian u16, as the wire carries lengths.
std::string u16(std::size_t n) { return {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff)}; }

// A packet around a hand-made (possibly malformed) vars block.
std::string with_header(const std::string& block, std::uint8_t modifier1 = kModifierWsgi) {
  return static_cast<char>(modifier1) + u16(block.size()) + '\0' + block;
}

std::string var(const std::string& key, const std::string& value) {
  return u16(key.size()) + key + u16(value.size()) + value;
}

// What nginx sends for `GET /hello?x=1` with `include uwsgi_params`.
const std::string kNginxGet = encode_packet({
    {"QUERY_STRING", "x=1"},
    {"REQUEST_METHOD", "GET"},
    {"CONTENT_TYPE", ""},
    {"CONTENT_LENGTH", ""},
    {"REQUEST_URI", "/hello?x=1"},
    {"PATH_INFO", "/hello"},
    {"SERVER_PROTOCOL", "HTTP/1.1"},
    {"REMOTE_ADDR", "127.0.0.1"},
    {"HTTP_HOST", "localhost"},
});

ParseResult parse(std::string_view buffer, Packet& packet, std::size_t max = kMaxVarsSize) {
  return parse_packet(buffer, max, packet);
}

Error parse_error(const std::string& buffer) {
  Packet packet;
  const auto result = parse(buffer, packet);
  CHECK(result.status == Status::invalid);
  return result.error;
}

}  // namespace

TEST_CASE("0 to 3 bytes: need the 4-byte header") {
  Packet packet;
  for (std::size_t n = 0; n < kHeaderSize; ++n) {
    CAPTURE(n);
    const auto result = parse(std::string_view(kNginxGet).substr(0, n), packet);
    CHECK(result.status == Status::need_more);
    CHECK(result.error == Error::none);
    CHECK(result.bytes_needed == kHeaderSize);
  }
}

TEST_CASE("every byte short of the vars block: need exactly the whole packet") {
  Packet packet;
  for (std::size_t n = kHeaderSize; n < kNginxGet.size(); ++n) {
    CAPTURE(n);
    const auto result = parse(std::string_view(kNginxGet).substr(0, n), packet);
    CHECK(result.status == Status::need_more);
    CHECK(result.error == Error::none);
    CHECK(result.bytes_needed == kNginxGet.size());
  }
}

TEST_CASE("a whole packet: complete, and the body after it is left alone") {
  Packet packet;
  const std::string buffer = kNginxGet + "request body";
  const auto result = parse(buffer, packet);
  REQUIRE(result.status == Status::complete);
  CHECK(result.bytes_needed == kNginxGet.size());
  CHECK(packet.packet_size == kNginxGet.size());
  CHECK(packet.vars_bytes == kNginxGet.size() - kHeaderSize);
  REQUIRE(packet.vars.size() == 9);
  CHECK(packet.vars[0].key == "QUERY_STRING");
  CHECK(packet.vars[0].value == "x=1");
  CHECK(packet.vars[3].key == "CONTENT_LENGTH");
  CHECK(packet.vars[3].value == "");
  CHECK(packet.vars[8].value == "localhost");
}

TEST_CASE("an empty vars block is a complete packet with no vars") {
  Packet packet;
  const auto result = parse(with_header(""), packet);
  CHECK(result.status == Status::complete);
  CHECK(packet.vars.empty());
  CHECK(packet.packet_size == kHeaderSize);
}

TEST_CASE("a key length cut in half (1 byte left) is invalid") {
  CHECK(parse_error(with_header(var("A", "1") + "\x01")) == Error::truncated_key_size);
}

TEST_CASE("a key running past the vars block is invalid") {
  CHECK(parse_error(with_header(u16(10) + "ABC")) == Error::key_overruns);
}

TEST_CASE("an empty key is invalid") { CHECK(parse_error(with_header(u16(0) + u16(1) + "x")) == Error::empty_key); }

TEST_CASE("a value length missing or cut in half is invalid") {
  CHECK(parse_error(with_header(u16(1) + "A")) == Error::truncated_value_size);
  CHECK(parse_error(with_header(u16(1) + "A" + "\x01")) == Error::truncated_value_size);
}

TEST_CASE("a value running past the vars block is invalid") {
  CHECK(parse_error(with_header(u16(1) + "A" + u16(5) + "ab")) == Error::value_overruns);
}

TEST_CASE("more than kMaxVars distinct vars is invalid; exactly kMaxVars is fine") {
  std::string block;
  for (std::size_t i = 0; i < kMaxVars; ++i) block += var(u16(i + 1), "");
  Packet packet;
  CHECK(parse(with_header(block), packet).status == Status::complete);
  CHECK(packet.vars.size() == kMaxVars);

  block += var(u16(kMaxVars + 1), "");
  CHECK(parse_error(with_header(block)) == Error::too_many_vars);
}

TEST_CASE("datasize above max_vars_size is refused from the header alone") {
  Packet packet;
  const std::string header = '\0' + u16(1000) + '\0';
  const auto refused = parse(header, packet, 999);
  CHECK(refused.status == Status::invalid);
  CHECK(refused.error == Error::vars_too_large);

  const auto accepted = parse(header, packet, 1000);
  CHECK(accepted.status == Status::need_more);
  CHECK(accepted.bytes_needed == kHeaderSize + 1000);
}

TEST_CASE("a repeated var is merged with ', ' at its first position") {
  Packet packet;
  const auto buffer =
      encode_packet({{"HTTP_ACCEPT", "a"}, {"HTTP_HOST", "h"}, {"HTTP_ACCEPT", "b"}, {"HTTP_ACCEPT", "c"}});
  REQUIRE(parse(buffer, packet).status == Status::complete);
  REQUIRE(packet.vars.size() == 2);
  CHECK(packet.vars[0].key == "HTTP_ACCEPT");
  CHECK(packet.vars[0].value == "a, b, c");
  CHECK(packet.vars[1].key == "HTTP_HOST");
  CHECK(packet.vars[1].value == "h");
}

TEST_CASE("a repeated HTTP_COOKIE is merged with '; ' at its first position") {
  Packet packet;
  const auto buffer = encode_packet({{"HTTP_COOKIE", "a=1"}, {"HTTP_X", "x"}, {"HTTP_X", "y"}, {"HTTP_COOKIE", "b=2"}});
  REQUIRE(parse(buffer, packet).status == Status::complete);
  REQUIRE(packet.vars.size() == 2);
  CHECK(packet.vars[0].key == "HTTP_COOKIE");
  CHECK(packet.vars[0].value == "a=1; b=2");
  CHECK(packet.vars[1].value == "x, y");
}

TEST_CASE("a non-zero modifier1 is complete without parsing the vars") {
  Packet packet;
  const std::string ping(kPong, kHeaderSize);
  const auto pong = parse(ping, packet);
  CHECK(pong.status == Status::complete);
  CHECK(packet.header.modifier1 == kModifierPing);
  CHECK(packet.header.modifier2 == 1);

  // A vars block that would be invalid under modifier1 0 is not even looked at.
  const auto foreign = parse(with_header(u16(0) + "garbage", 22), packet);
  CHECK(foreign.status == Status::complete);
  CHECK(packet.header.modifier1 == 22);
  CHECK(packet.vars.empty());
  CHECK(packet.packet_size == kHeaderSize + 9);
}

TEST_CASE("encode_packet round-trips through parse_packet") {
  const std::string big(300, 'v');  // needs the high byte of the u16 length
  const std::string binary("a\0b\xff", 4);
  const auto buffer = encode_packet({{"A", ""}, {"BIG", big}, {"BIN", binary}}, 0, 7);
  CHECK(decode_header(buffer.data()).datasize == buffer.size() - kHeaderSize);

  Packet packet;
  REQUIRE(parse(buffer, packet).status == Status::complete);
  CHECK(packet.header.modifier2 == 7);
  REQUIRE(packet.vars.size() == 3);
  CHECK(packet.vars[0].value == "");
  CHECK(packet.vars[1].value == big);
  CHECK(packet.vars[2].value == binary);
}

TEST_CASE("decode_header reads a little-endian datasize") {
  const char bytes[] = {5, '\x34', '\x12', 9};
  const auto header = decode_header(bytes);
  CHECK(header.modifier1 == 5);
  CHECK(header.datasize == 0x1234);
  CHECK(header.modifier2 == 9);
}

TEST_CASE("a reused Packet holds only the latest parse") {
  Packet packet;
  const auto first = encode_packet({{"HTTP_A", "1"}, {"HTTP_A", "2"}});
  const auto second = encode_packet({{"B", "3"}});
  REQUIRE(parse(first, packet).status == Status::complete);
  CHECK(packet.merged.size() == 1);
  REQUIRE(parse(second, packet).status == Status::complete);
  REQUIRE(packet.vars.size() == 1);
  CHECK(packet.vars[0].key == "B");
  CHECK(packet.merged.empty());
}

TEST_CASE("every error has its own description") {
  const Error errors[] = {Error::none,           Error::vars_too_large, Error::truncated_key_size,
                          Error::key_overruns,   Error::empty_key,      Error::truncated_value_size,
                          Error::value_overruns, Error::too_many_vars};
  for (const auto a : errors) {
    CHECK_FALSE(describe(a).empty());
    for (const auto b : errors) {
      if (a != b) CHECK(describe(a) != describe(b));
    }
  }
}

TEST_CASE("parse_content_length: digits only, empty means 0") {
  CHECK(parse_content_length("") == 0u);
  CHECK(parse_content_length("0") == 0u);
  CHECK(parse_content_length("12") == 12u);
  CHECK(parse_content_length("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
  CHECK_FALSE(parse_content_length("-1"));
  CHECK_FALSE(parse_content_length("+1"));
  CHECK_FALSE(parse_content_length("1a"));
  CHECK_FALSE(parse_content_length(" 1"));
  CHECK_FALSE(parse_content_length("1 "));
  CHECK_FALSE(parse_content_length("18446744073709551616"));
  CHECK_FALSE(parse_content_length("99999999999999999999999999999999"));
}

TEST_CASE("a CGI var sent twice keeps its last value: uwsgi_param overriding uwsgi_params") {
  Packet packet;
  const auto bytes =
      encode_packet({{"REMOTE_ADDR", "127.0.0.1"}, {"HTTP_X", "a"}, {"REMOTE_ADDR", "10.9.8.7"}, {"HTTP_X", "b"}});
  REQUIRE(parse(bytes, packet).status == Status::complete);
  REQUIRE(packet.vars.size() == 2);
  CHECK(packet.vars[0].key == "REMOTE_ADDR");
  CHECK(packet.vars[0].value == "10.9.8.7");
  CHECK(packet.vars[1].value == "a, b");
}
