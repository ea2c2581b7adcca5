#pragma once

// Builds a PEP 3333 environ from the uwsgi vars: every var as nginx sent it (latin-1
// str keys and values, never rebuilt from headers), the wsgi.* keys, and defaults for the
// CGI vars a config without `include uwsgi_params` leaves out.

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/cgi.hpp"
#include "protocol/uwsgi.hpp"
#include "wsgi/python.hpp"

namespace ferry::wsgi {

using protocol::RequestFacts;

class EnvironBuilder {
 public:
  explicit EnvironBuilder(PyObject* environ_template) : template_(environ_template) {}
  // Interns the keys; call once with the GIL held.
  void init();
  // A new environ (new reference), or nullptr with a Python error set. `server_address`
  // names the address the connection came in on; it is asked only when the request names
  // no host at all (no SERVER_NAME, Host or SERVER_ADDR), so it may make a syscall.
  PyObject* build(const protocol::Packet& packet, PyObject* input, const std::function<std::string()>& server_address);

 private:
  enum Role : unsigned {
    kOther = 0,
    kMethod = 1u << 0,
    kPathInfo = 1u << 1,
    kQuery = 1u << 2,
    kServerName = 1u << 3,
    kServerPort = 1u << 4,
    kProtocol = 1u << 5,
    kHttps = 1u << 6,
    kRequestScheme = 1u << 7,
    kUwsgiScheme = 1u << 8,
    kRequestUri = 1u << 9,
    kHost = 1u << 10,
    kContentType = 1u << 11,
    kContentLength = 1u << 12,
    kHeaderDuplicate = 1u << 13,  // HTTP_CONTENT_TYPE/LENGTH: CGI has them without HTTP_
    kServerAddr = 1u << 14,
  };
  struct Key {
    PyObject* name;  // interned, owned for the worker's life
    Role role;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  const Key& key_for(std::string_view name, PyRef& temporary, Key& scratch);
  // The same, through a cache of the previous packet's keys: nginx sends the same vars in
  // the same order every time, so a comparison usually replaces the hash lookup.
  const Key& cached_key_for(std::size_t position, std::string_view name, PyRef& temporary, Key& scratch);
  bool set_default(PyObject* env, Role role, std::string_view value);

  PyObject* template_;
  std::unordered_map<std::string, Key, Hash, std::equal_to<>> keys_;  // nodes never move
  struct Recent {
    std::string name;
    const Key* key = nullptr;
  };
  std::vector<Recent> recent_;  // by position in the packet
  PyObject* url_scheme_ = nullptr;
  PyObject* input_key_ = nullptr;
  PyObject* http_ = nullptr;
  PyObject* https_ = nullptr;
};

}  // namespace ferry::wsgi
