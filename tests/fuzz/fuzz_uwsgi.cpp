// Fuzzes src/protocol/uwsgi.cpp (and the CGI helpers that read its vars) with arbitrary
// bytes, as an untrusted peer could send them.
//
// Input: byte 0 picks max_vars_size (0..255 -> 0..65535, so small buffer-size settings and
// nginx's maximum are both covered); the rest is what arrived on the socket.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string_view>

#include "protocol/cgi.hpp"
#include "protocol/uwsgi.hpp"

using namespace ferry::protocol;

namespace {

void require(bool ok, const char* invariant) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_uwsgi: invariant broken: %s\n", invariant);
    std::abort();
  }
}

bool inside(std::string_view view, std::string_view buffer) {
  const std::less_equal<const char*> le;
  return le(buffer.data(), view.data()) && le(view.data() + view.size(), buffer.data() + buffer.size());
}

bool inside_merged(std::string_view view, const Packet& packet) {
  for (const auto& joined : packet.merged) {
    if (inside(view, joined)) return true;
  }
  return false;
}

void check_complete(std::string_view buffer, std::size_t max_vars_size, const Packet& packet) {
  require(packet.packet_size <= buffer.size(), "complete => packet_size <= input size");
  require(packet.packet_size == kHeaderSize + packet.vars_bytes, "packet_size == header + datasize");
  require(packet.vars_bytes <= max_vars_size, "datasize <= max_vars_size");
  require(packet.vars.size() <= kMaxVars, "at most kMaxVars vars");
  const std::string_view packet_bytes = buffer.substr(0, packet.packet_size);
  for (const auto& [key, value] : packet.vars) {
    require(!key.empty(), "keys are never empty");
    require(inside(key, packet_bytes), "every key lies inside the packet");
    require(inside(value, packet_bytes) || inside_merged(value, packet),
            "every value lies inside the packet or in packet.merged");
  }
  if (packet.header.modifier1 == kModifierWsgi && packet.merged.empty()) {
    std::vector<std::pair<std::string, std::string>> vars;
    for (const auto& [key, value] : packet.vars) vars.emplace_back(key, value);
    // A repeated CGI var keeps only its last value, so the packet re-encodes shorter;
    // without repeats it must come back byte for byte.
    const std::string encoded = encode_packet(vars, 0, packet.header.modifier2);
    require(encoded.size() <= packet_bytes.size(), "re-encoding never grows a packet");
    require(encoded.size() < packet_bytes.size() || encoded == packet_bytes,
            "encode_packet(parse_packet(p)) == p when no var was repeated");
  }

  const RequestFacts facts = request_facts(packet);
  require(!facts.method.empty() && !facts.uri.empty() && !facts.protocol.empty(), "facts have defaults");
  parse_content_length(facts.content_length);
  for (const auto& var : packet.vars) {
    require(percent_decode(var.value).size() <= var.value.size(), "decoding never grows a value");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max_vars_size = data[0] * std::size_t{257};
  const std::string_view buffer(reinterpret_cast<const char*>(data) + 1, size - 1);

  // A worker parses whatever has arrived so far, then again with more, in one Packet.
  Packet packet;
  const std::string_view first_read = buffer.substr(0, buffer.size() / 2);
  const ParseResult early = parse_packet(first_read, max_vars_size, packet);
  const ParseResult result = parse_packet(buffer, max_vars_size, packet);

  switch (result.status) {
    case Status::complete:
      require(result.error == Error::none, "complete => no error");
      check_complete(buffer, max_vars_size, packet);
      break;
    case Status::need_more:
      require(result.error == Error::none, "need_more => no error");
      require(result.bytes_needed > buffer.size(), "need_more => bytes_needed > what we have");
      require(result.bytes_needed <= kHeaderSize + kMaxVarsSize, "bytes_needed fits a u16 datasize");
      break;
    case Status::invalid: require(result.error != Error::none, "invalid => an error"); break;
  }
  // More bytes never change a verdict already reached; once the header is in, bytes_needed
  // is the whole packet (before that it is only the header).
  if (early.status != Status::need_more) {
    require(result.status == early.status && result.error == early.error, "verdicts are final");
  } else if (first_read.size() >= kHeaderSize && early.bytes_needed <= buffer.size()) {
    require(result.status != Status::need_more, "bytes_needed was enough");
  } else if (result.status == Status::need_more) {
    require(result.bytes_needed >= early.bytes_needed, "bytes_needed never shrinks");
  }

  parse_content_length(buffer);
  return 0;
}
