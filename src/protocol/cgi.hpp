#pragma once

// The few CGI vars ferry itself reads (for the request log and to pick the response's
// framing), with the defaults used when nginx runs without `include uwsgi_params`.

#include <string>
#include <string_view>

#include "protocol/uwsgi.hpp"

namespace ferry::protocol {

struct RequestFacts {
  std::string_view method = "GET";
  std::string_view uri;  // REQUEST_URI, else PATH_INFO; "/" when neither was sent
  std::string_view protocol = "HTTP/1.1";
  std::string_view remote_addr;
  std::string_view remote_user;
  std::string_view content_length;
  std::string_view path_info;    // as sent, possibly empty
  std::string_view script_name;  // as sent (uwsgi_param SCRIPT_NAME), possibly empty
};

RequestFacts request_facts(const Packet& packet);

// "a%20b" -> "a b". Invalid escapes are kept as they are (nginx does so in the query
// string and in what it passes through untouched); `all_valid`, if given, says whether
// every '%' started one, which nginx requires of a request path it decodes ("/a%zz" and
// "/a%" get 400 there).
std::string percent_decode(std::string_view text, bool* all_valid = nullptr);

// A decoded request path made what nginx puts in $uri (and so in PATH_INFO through
// uwsgi_params): runs of slashes merged (merge_slashes, on by default), "." segments
// dropped, ".." segments taking the one before them away. `why` is set, and the result is
// empty, when the path cannot be served: a ".." above the root, or a NUL byte (%00), both
// of which nginx answers with 400.
std::string normalize_path(std::string decoded, const char** why);

}  // namespace ferry::protocol
