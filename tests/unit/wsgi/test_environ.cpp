// src/wsgi/environ.cpp: the PEP 3333 environ built from uwsgi vars, without nginx.

#include "wsgi/environ.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using namespace ferry;

namespace {

using Vars = std::vector<std::pair<std::string, std::string>>;

// Builds the environ for `vars` and returns it as a dict (new reference).
struct Built {
  std::string packet_bytes;
  protocol::Packet packet;
  wsgi::PyRef environ;
};

Built build(const Vars& vars, wsgi::EnvironBuilder& builder) {
  Built b;
  b.packet_bytes = protocol::encode_packet(vars);
  REQUIRE(protocol::parse_packet(b.packet_bytes, protocol::kMaxVarsSize, b.packet).status ==
          protocol::Status::complete);
  b.environ = wsgi::PyRef(builder.build(b.packet, Py_None, [] { return std::string("192.0.2.7"); }));
  REQUIRE(b.environ);
  return b;
}

struct Fixture {
  wsgi::PyRef base{PyDict_New()};
  wsgi::EnvironBuilder builder{base.get()};
  Fixture() {
    PyDict_SetItemString(base.get(), "wsgi.version", Py_None);
    builder.init();
  }
};

std::string get(PyObject* env, const char* key) {
  PyObject* v = PyDict_GetItemString(env, key);
  if (v == nullptr) return "<missing>";
  REQUIRE(PyUnicode_Check(v));
  return PyUnicode_AsUTF8(v);
}

const Vars kNginx = {
    {"QUERY_STRING", "a=1"},
    {"REQUEST_METHOD", "POST"},
    {"CONTENT_TYPE", "text/plain"},
    {"CONTENT_LENGTH", "3"},
    {"REQUEST_URI", "/p?a=1"},
    {"PATH_INFO", "/p"},
    {"SERVER_PROTOCOL", "HTTP/1.1"},
    {"REMOTE_ADDR", "10.1.2.3"},
    {"SERVER_NAME", "example.org"},
    {"SERVER_PORT", "443"},
    {"HTTP_CONTENT_TYPE", "text/plain"},
    {"HTTP_CONTENT_LENGTH", "3"},
    {"HTTP_X_CUSTOM", "caf\xe9"},
    {"MY_PARAM", "kept"},
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "every var nginx sends is kept, latin-1 decoded; the template is copied") {
  auto b = build(kNginx, builder);
  PyObject* env = b.environ.get();
  CHECK(get(env, "REMOTE_ADDR") == "10.1.2.3");
  CHECK(get(env, "REQUEST_URI") == "/p?a=1");
  CHECK(get(env, "MY_PARAM") == "kept");
  CHECK(get(env, "HTTP_X_CUSTOM") == "caf\xc3\xa9");  // U+00E9, as UTF-8 here
  CHECK(PyDict_GetItemString(env, "wsgi.version") == Py_None);
  CHECK(PyDict_GetItemString(env, "wsgi.input") == Py_None);
  CHECK(PyDict_GetItemString(base.get(), "REMOTE_ADDR") == nullptr);  // the template is untouched
}

TEST_CASE_FIXTURE(Fixture, "HTTP_CONTENT_TYPE/LENGTH are dropped; empty CONTENT_* are left out") {
  auto b = build(kNginx, builder);
  CHECK(get(b.environ.get(), "HTTP_CONTENT_TYPE") == "<missing>");
  CHECK(get(b.environ.get(), "HTTP_CONTENT_LENGTH") == "<missing>");
  CHECK(get(b.environ.get(), "CONTENT_LENGTH") == "3");
  auto get_request = build({{"REQUEST_METHOD", "GET"}, {"CONTENT_TYPE", ""}, {"CONTENT_LENGTH", ""}}, builder);
  CHECK(get(get_request.environ.get(), "CONTENT_TYPE") == "<missing>");
  CHECK(get(get_request.environ.get(), "CONTENT_LENGTH") == "<missing>");
}

TEST_CASE_FIXTURE(Fixture, "wsgi.url_scheme comes from HTTPS, REQUEST_SCHEME or UWSGI_SCHEME, never a header") {
  CHECK(get(build({{"HTTPS", "on"}}, builder).environ.get(), "wsgi.url_scheme") == "https");
  CHECK(get(build({{"HTTPS", "1"}}, builder).environ.get(), "wsgi.url_scheme") == "https");
  CHECK(get(build({{"REQUEST_SCHEME", "https"}}, builder).environ.get(), "wsgi.url_scheme") == "https");
  CHECK(get(build({{"UWSGI_SCHEME", "https"}}, builder).environ.get(), "wsgi.url_scheme") == "https");
  CHECK(get(build({{"HTTP_X_FORWARDED_PROTO", "https"}}, builder).environ.get(), "wsgi.url_scheme") == "http");
  CHECK(get(build({{"HTTPS", "off"}}, builder).environ.get(), "wsgi.url_scheme") == "http");
}

TEST_CASE_FIXTURE(Fixture, "without include uwsgi_params, the required CGI vars get defaults") {
  auto only_headers = build({{"HTTP_HOST", "shop.example:8080"}, {"SERVER_PROTOCOL", "HTTP/1.0"}}, builder);
  PyObject* env = only_headers.environ.get();
  CHECK(get(env, "REQUEST_METHOD") == "GET");
  CHECK(get(env, "PATH_INFO") == "/");
  CHECK(get(env, "QUERY_STRING") == "");
  CHECK(get(env, "SERVER_NAME") == "shop.example");
  CHECK(get(env, "SERVER_PORT") == "8080");
  CHECK(get(env, "SERVER_PROTOCOL") == "HTTP/1.0");

  auto from_uri = build({{"REQUEST_URI", "/a%20b?x=1"}}, builder);
  CHECK(get(from_uri.environ.get(), "PATH_INFO") == "/a b");
  CHECK(get(from_uri.environ.get(), "QUERY_STRING") == "x=1");
  CHECK(get(from_uri.environ.get(), "SERVER_NAME") == "192.0.2.7");  // the connection's address
  CHECK(get(from_uri.environ.get(), "SERVER_PORT") == "80");
  CHECK(get(build({{"HTTPS", "on"}}, builder).environ.get(), "SERVER_PORT") == "443");
}

TEST_CASE_FIXTURE(Fixture, "an empty SERVER_NAME (a server block without server_name) is filled in") {
  // From Host, without its port.
  auto from_host = build({{"SERVER_NAME", ""}, {"HTTP_HOST", "shop.example:8080"}, {"SERVER_PORT", "8000"}}, builder);
  CHECK(get(from_host.environ.get(), "SERVER_NAME") == "shop.example");
  CHECK(get(from_host.environ.get(), "SERVER_PORT") == "8000");  // nginx's, as sent
  CHECK(get(build({{"SERVER_NAME", ""}, {"HTTP_HOST", "[::1]:8080"}}, builder).environ.get(), "SERVER_NAME") ==
        "[::1]");
  // No Host (HTTP/1.0): the address nginx accepted the request on, when it is passed ...
  CHECK(get(build({{"SERVER_NAME", ""}, {"SERVER_ADDR", "198.51.100.4"}}, builder).environ.get(), "SERVER_NAME") ==
        "198.51.100.4");
  CHECK(get(build({{"SERVER_NAME", ""}, {"SERVER_ADDR", "2001:db8::1"}}, builder).environ.get(), "SERVER_NAME") ==
        "[2001:db8::1]");
  // ... else the address of ferry's own socket.
  CHECK(get(build({{"SERVER_NAME", ""}, {"REQUEST_METHOD", "GET"}}, builder).environ.get(), "SERVER_NAME") ==
        "192.0.2.7");
  // Debian's uwsgi_params sends HTTP_HOST as $host: empty without a Host header.
  auto empty_host = build({{"SERVER_NAME", ""}, {"HTTP_HOST", ""}}, builder);
  CHECK(get(empty_host.environ.get(), "SERVER_NAME") == "192.0.2.7");
  CHECK(PyDict_GetItemString(empty_host.environ.get(), "HTTP_HOST") == nullptr);
  // A name that nginx did send wins over Host.
  CHECK(get(build({{"SERVER_NAME", "app.example"}, {"HTTP_HOST", "other"}}, builder).environ.get(), "SERVER_NAME") ==
        "app.example");
}

TEST_CASE_FIXTURE(Fixture, "repeated vars arrive merged, as nginx 1.23+ sends them") {
  auto b = build({{"HTTP_COOKIE", "a=1"}, {"HTTP_ACCEPT", "x"}, {"HTTP_COOKIE", "b=2"}, {"HTTP_ACCEPT", "y"}}, builder);
  CHECK(get(b.environ.get(), "HTTP_COOKIE") == "a=1; b=2");
  CHECK(get(b.environ.get(), "HTTP_ACCEPT") == "x, y");
}
