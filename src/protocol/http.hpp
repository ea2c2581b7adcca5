#pragma once

// HTTP/1.1 requests as `--http` receives them straight from clients, parsed by llhttp 8.1
// (Debian's node-llhttp, built in strict mode) and turned into the CGI vars nginx would have
// sent through `include uwsgi_params`, so everything after this file is the same for both
// listeners. Pure: no I/O, no Asio, no Python; the worker owns the socket.
//
// llhttp does the grammar. This layer adds only what llhttp 8.1 accepts but ferry must not
// (see "Rejected here" in http.cpp), the limits, and a pause after every event so that the
// caller sees one thing at a time and pipelined bytes are never swallowed.
//
// Every rejection is final: the caller answers with Result::http_status and closes the
// connection, because after a framing error nobody knows where the next request starts.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/uwsgi.hpp"

namespace ferry::protocol::http {

struct Limits {
  // Request line + header fields (+ leading empty lines), in bytes: more -> 431, or 414
  // while still inside the request-target. The buffer-size option; uWSGI's default.
  std::size_t max_head_bytes = 4096;
  // The request-target alone: longer -> 414.
  std::size_t max_target_bytes = 4096;
  // More header field lines than this -> 431.
  std::size_t max_headers = 100;
  // limit-post. 0 = no limit. A Content-Length above it -> 413 as soon as the head is in; a
  // chunked body -> 413 as soon as a chunk header announces a chunk that would cross it.
  std::uint64_t max_body = 0;
};

struct Head {
  std::string method;                        // as sent (llhttp matches methods case-sensitively)
  std::string target;                        // the request-target as sent: "/p?q", "http://h/p?q" or "*"
  std::string path_info;                     // its path decoded and normalized as nginx's $uri; "*" for "*"
  int version_major = 1, version_minor = 1;  // only 1.0 and 1.1 get this far
  // Field lines in arrival order, names as sent, values without surrounding whitespace.
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::uint64_t> content_length;  // set iff a Content-Length was sent
  bool chunked = false;                         // Transfer-Encoding: chunked (never with Content-Length)
  bool keep_alive = true;                       // 1.1 unless "Connection: close"; 1.0 only with "keep-alive"
  bool expect_continue = false;                 // "Expect: 100-continue" on an HTTP/1.1 request
};

namespace detail {
struct ParserState;  // llhttp's state and ours (http_parser_state.hpp), so llhttp.h stays out of here
}

class RequestParser {
 public:
  explicit RequestParser(Limits limits);
  ~RequestParser();
  RequestParser(RequestParser&&) noexcept;
  RequestParser& operator=(RequestParser&&) noexcept;

  enum class Status {
    need_more,         // every byte consumed; feed more when it arrives
    head_complete,     // head() is filled in; the body (if any) has not been touched
    body,              // Result::body holds the next piece of the decoded body
    message_complete,  // the request ended; bytes after `consumed` belong to the next one
    error,             // answer http_status and close; every later feed() repeats it
  };

  struct Result {
    Status status = Status::need_more;
    std::size_t consumed = 0;  // bytes of `data` used; feed the rest again
    // With Status::body: decoded body bytes (chunked framing removed). A view into `data`.
    std::string_view body;
    // With Status::error: 400 (malformed or smuggling-shaped), 413 (body over max_body),
    // 414 (target too long), 431 (head or header count over the limits), 501 (a transfer
    // coding other than chunked, or a method token llhttp does not know) or 505 (HTTP/0.9,
    // HTTP/2.0 or the HTTP/2 preface); and a specific reason for the log line.
    int http_status = 0;
    std::string error;
  };

  // Parses as much of `data` as the next event allows and stops there:
  //   * after the head: the caller may send "100 Continue" or refuse the body, and may read a
  //     Content-Length body straight from the socket itself (then reset(), see below);
  //   * after each body piece, so Result::body can point into `data` without a copy;
  //   * at message end, so pipelined bytes of the next request are never consumed.
  // A request without a body reports head_complete, then message_complete on the next call
  // (which consumes nothing and may be given no bytes). After message_complete, feeding the
  // remaining bytes parses the next pipelined request. Status::need_more always consumes
  // everything, so the caller never needs to keep bytes that were already fed.
  Result feed(std::string_view data);

  // Forgets the current request: ready for a new one on the same connection. Needed when
  // the caller read a Content-Length body from the socket itself after head_complete;
  // optional after message_complete.
  void reset();

  // The current request's head; complete from head_complete until the next request starts.
  const Head& head() const;

 private:
  std::unique_ptr<detail::ParserState> state_;
};

struct Endpoint {
  std::string addr;  // numeric, IPv6 without brackets ("::1")
  std::string port;
};

// Appends to `out` the CGI vars nginx would send through `include uwsgi_params` for this
// request, then one HTTP_* var per header, as protocol::parse_packet would have produced
// them from nginx's packet:
//   REQUEST_METHOD, REQUEST_URI (path?query, never a fragment; the path and query of an
//   absolute-form target), PATH_INFO (percent-decoded path; "*" for OPTIONS *),
//   QUERY_STRING (after '?', never the fragment), SERVER_PROTOCOL, REQUEST_SCHEME=http,
//   CONTENT_TYPE (first Content-Type, else empty), CONTENT_LENGTH (empty without one, and
//   when chunked), REMOTE_ADDR, REMOTE_PORT, SERVER_ADDR, SERVER_PORT (the port named in
//   Host, else the listener's), SERVER_NAME (Host without its port, "[::1]" kept bracketed;
//   else the listener address),
//   HTTP_<NAME> for each other header: upper-cased, '-' -> '_'; repeats (case-insensitive)
//   joined with ", " (Cookie with "; ") as the uwsgi codec joins them; names containing '_'
//   dropped, as nginx does by default, since "X_A" would pose as "X-A". For an absolute-form
//   target HTTP_HOST and SERVER_NAME come from the target's host (RFC 9112 3.2.2).
// Views in out.vars point into `head` (which must outlive `out`) and into out.merged, which
// this function reserves. So `out.merged` must be empty on entry, and nothing may be added
// to it afterwards (a reallocation would move the strings the views point into); put
// further values in storage of your own that outlives `out`.
void append_cgi_vars(const Head& head, const Endpoint& peer, const Endpoint& local, protocol::Packet& out);

}  // namespace ferry::protocol::http
