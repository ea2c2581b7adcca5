// src/config/tls_options.cpp: ssl-socket and https = ADDR,CERT,KEY[,CIPHERS,CA].

#include "config/tls_options.hpp"

#include <doctest/doctest.h>

using namespace ferry::config;

namespace {

const Location kLine{"app.ini", 3};

std::string error_of(std::string_view key, std::string_view value, bool http) {
  try {
    parse_tls_socket(key, value, kLine, http);
  } catch (const ConfigError& e) {
    CHECK(e.where().line == 3);
    return e.what();
  }
  FAIL("expected a ConfigError for " << key << " = " << value);
  return {};
}

}  // namespace

TEST_CASE("ssl-socket: address, certificate and key; ciphers and CA optional") {
  const SocketOption plain = parse_tls_socket("ssl-socket", "127.0.0.1:9443,/c.pem,/k.pem", kLine, false);
  CHECK(plain.address == "127.0.0.1:9443");
  CHECK_FALSE(plain.http);
  REQUIRE(plain.tls);
  CHECK(plain.tls->option == "ssl-socket");
  CHECK(plain.tls->cert == "/c.pem");
  CHECK(plain.tls->key == "/k.pem");
  CHECK(plain.tls->ciphers.empty());
  CHECK(plain.tls->ca.empty());

  const SocketOption full =
      parse_tls_socket("ssl-socket", "/run/s.sock,/c.pem,/k.pem,ECDHE+AESGCM,/ca.pem", kLine, false);
  CHECK(full.address == "/run/s.sock");
  CHECK(full.tls->ciphers == "ECDHE+AESGCM");
  CHECK(full.tls->ca == "/ca.pem");
  // An empty CIPHERS field keeps the defaults and still takes the CA.
  CHECK(parse_tls_socket("ssl-socket", ":9443,/c,/k,,/ca", kLine, false).tls->ca == "/ca");
}

TEST_CASE("https: an HTTP listener with TLS, its address checked as http's") {
  const SocketOption https = parse_tls_socket("https", ":8443,/c.pem,/k.pem", kLine, true);
  CHECK(https.http);
  CHECK(https.address == ":8443");
  CHECK(https.tls->option == "https");
  CHECK(error_of("https", "/tmp/x.sock,/c,/k", true).find("[ADDRESS]:PORT") != std::string::npos);
}

TEST_CASE("a missing certificate or key, or too many fields, is an error naming the form") {
  for (std::string_view bad : {"127.0.0.1:9443", "127.0.0.1:9443,/c.pem", "127.0.0.1:9443,,/k.pem", ",/c.pem,/k.pem",
                               "a:1,/c,/k,x,/ca,extra"}) {
    const std::string error = error_of("ssl-socket", bad, false);
    CHECK(error.find("ssl-socket expects ADDRESS,CERT,KEY[,CIPHERS,CA]") != std::string::npos);
  }
}

TEST_CASE("the options are in the table, https no longer refused") {
  CHECK(find_option("ssl-socket") != nullptr);
  CHECK(find_option("https") != nullptr);
  CHECK(unsupported_uwsgi_option("https").empty());
}
