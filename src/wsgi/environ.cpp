#include "wsgi/environ.hpp"

#include <fmt/format.h>
#include <strings.h>

namespace ferry::wsgi {
namespace {

// Custom headers are interned too, up to this many distinct names per worker; past that a
// client inventing header names costs a temporary string instead of unbounded memory.
constexpr std::size_t kMaxInternedKeys = 1024;
// ... and only names up to this long: 1024 names of 60 KB each would keep 60 MB per worker.
// Real header names are far shorter.
constexpr std::size_t kMaxInternedKeyLength = 64;

PyObject* latin1(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
}

bool is_on(std::string_view v) { return v == "1" || (v.size() == 2 && strncasecmp(v.data(), "on", 2) == 0); }

}  // namespace

void EnvironBuilder::init() {
  const std::pair<const char*, Role> known[] = {
      {"REQUEST_METHOD", kMethod},
      {"PATH_INFO", kPathInfo},
      {"QUERY_STRING", kQuery},
      {"SERVER_NAME", kServerName},
      {"SERVER_PORT", kServerPort},
      {"SERVER_PROTOCOL", kProtocol},
      {"HTTPS", kHttps},
      {"REQUEST_SCHEME", kRequestScheme},
      {"UWSGI_SCHEME", kUwsgiScheme},
      {"REQUEST_URI", kRequestUri},
      {"HTTP_HOST", kHost},
      {"CONTENT_TYPE", kContentType},
      {"CONTENT_LENGTH", kContentLength},
      {"REMOTE_ADDR", kOther},
      {"REMOTE_PORT", kOther},
      {"DOCUMENT_ROOT", kOther},
      {"SERVER_ADDR", kServerAddr},
      {"HTTP_USER_AGENT", kOther},
      {"HTTP_ACCEPT", kOther},
      {"HTTP_COOKIE", kOther},
      {"HTTP_CONNECTION", kOther},
      {"HTTP_CONTENT_TYPE", kHeaderDuplicate},
      {"HTTP_CONTENT_LENGTH", kHeaderDuplicate},
  };
  for (const auto& [name, role] : known) {
    keys_.emplace(name, Key{PyUnicode_InternFromString(name), role});
  }
  url_scheme_ = PyUnicode_InternFromString("wsgi.url_scheme");
  input_key_ = PyUnicode_InternFromString("wsgi.input");
  http_ = PyUnicode_InternFromString("http");
  https_ = PyUnicode_InternFromString("https");
}

const EnvironBuilder::Key& EnvironBuilder::key_for(std::string_view name, PyRef& temporary, Key& scratch) {
  if (auto it = keys_.find(name); it != keys_.end()) return it->second;
  PyObject* str = latin1(name);
  if (str != nullptr && keys_.size() < kMaxInternedKeys && name.size() <= kMaxInternedKeyLength) {
    PyUnicode_InternInPlace(&str);
    return keys_.emplace(std::string(name), Key{str, kOther}).first->second;
  }
  temporary = PyRef(str);
  scratch = Key{str, kOther};
  return scratch;
}

const EnvironBuilder::Key& EnvironBuilder::cached_key_for(std::size_t position, std::string_view name, PyRef& temporary,
                                                          Key& scratch) {
  if (position < recent_.size() && recent_[position].name == name) return *recent_[position].key;
  const Key& key = key_for(name, temporary, scratch);
  if (temporary || key.name == nullptr || position >= kMaxInternedKeys) return key;  // not kept in keys_
  if (position >= recent_.size()) recent_.resize(position + 1);
  recent_[position] = {std::string(name), &key};
  return key;
}

bool EnvironBuilder::set_default(PyObject* env, Role role, std::string_view value) {
  for (const auto& [name, key] : keys_) {
    if (key.role == role) {
      PyRef v(latin1(value));
      return v && PyDict_SetItem(env, key.name, v.get()) == 0;
    }
  }
  return false;
}

PyObject* EnvironBuilder::build(const protocol::Packet& packet, PyObject* input,
                                const std::function<std::string()>& server_address) {
  // A copy of the template clones its table in one go; the vars then grow it.
  PyRef env(PyDict_Copy(template_));
  if (!env) return nullptr;
  unsigned seen = 0;
  bool https = false;
  std::string_view request_uri, host, server_addr;
  for (std::size_t i = 0; i < packet.vars.size(); ++i) {
    const auto& var = packet.vars[i];
    PyRef temporary;
    Key scratch;
    const Key& key = cached_key_for(i, var.key, temporary, scratch);
    if (key.name == nullptr) return nullptr;
    switch (key.role) {
      case kContentType:
      case kContentLength:
        if (var.value.empty()) continue;  // nginx sends them empty on a GET
        break;
      case kHeaderDuplicate:
        // nginx forwards the Content-Type/Length headers as HTTP_* too; CGI (RFC 3875
        // 4.1.18) and PEP 3333 keep them only as CONTENT_TYPE/CONTENT_LENGTH.
        continue;
      case kHttps: https = https || is_on(var.value); break;
      case kRequestScheme: https = https || var.value == "https"; break;
      case kUwsgiScheme: https = var.value == "https"; break;
      case kRequestUri: request_uri = var.value; break;
      case kHost:
        // Debian's uwsgi_params sends HTTP_HOST as $host, which is empty for a request
        // without Host (HTTP/1.0) in a server block without server_name. No Host header
        // means no HTTP_HOST (RFC 3875 4.1.18), and Django refuses an empty host.
        if (var.value.empty()) continue;
        host = var.value;
        break;
      case kServerName:
        // nginx sends $server_name, which is empty in a server block without a
        // server_name; PEP 3333 says SERVER_NAME is never empty. Filled in below.
        if (var.value.empty()) continue;
        break;
      case kServerAddr: server_addr = var.value; break;
      default: break;
    }
    seen |= key.role;
    PyRef value(latin1(var.value));
    if (!value || PyDict_SetItem(env.get(), key.name, value.get()) != 0) return nullptr;
  }

  // Without `include uwsgi_params` nginx sends only HTTP_* and SERVER_PROTOCOL.
  constexpr unsigned kRequired = kMethod | kPathInfo | kQuery | kServerName | kServerPort | kProtocol;
  if ((seen & kRequired) != kRequired) {
    const auto question = request_uri.find('?');
    const std::string_view path = request_uri.substr(0, question);
    const std::string_view query = question == std::string_view::npos ? "" : request_uri.substr(question + 1);
    std::string_view host_name = host, host_port;
    if (const auto colon = host.rfind(':');
        colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
      host_name = host.substr(0, colon);
      host_port = host.substr(colon + 1);
    }
    bool ok = true;
    if (!(seen & kMethod)) ok &= set_default(env.get(), kMethod, "GET");
    if (!(seen & kPathInfo))
      ok &= set_default(env.get(), kPathInfo, path.empty() ? "/" : protocol::percent_decode(path));
    if (!(seen & kQuery)) ok &= set_default(env.get(), kQuery, query);
    if (!(seen & kServerName)) {
      // The name the client asked for, else the address nginx accepted it on (a custom
      // uwsgi_param SERVER_ADDR), else the address ferry accepted it on.
      std::string address;
      std::string_view name = host_name;
      if (name.empty() && !server_addr.empty()) {
        address = server_addr.find(':') == std::string_view::npos ? std::string(server_addr)
                                                                  : fmt::format("[{}]", server_addr);
        name = address;
      }
      if (name.empty()) name = address = server_address();
      ok &= set_default(env.get(), kServerName, name);
    }
    if (!(seen & kServerPort))
      ok &= set_default(env.get(), kServerPort, !host_port.empty() ? host_port : https ? "443" : "80");
    if (!(seen & kProtocol)) ok &= set_default(env.get(), kProtocol, "HTTP/1.1");
    if (!ok) return nullptr;
  }
  if (PyDict_SetItem(env.get(), url_scheme_, https ? https_ : http_) != 0 ||
      PyDict_SetItem(env.get(), input_key_, input) != 0) {
    return nullptr;
  }
  return env.release();
}

}  // namespace ferry::wsgi
