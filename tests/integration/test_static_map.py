"""static-map = /PREFIX=DIR: files served before the app, on the HTTP listener and on the
uwsgi socket alike (as in uWSGI), for development; and the user's development command
serving the demo's admin with its CSS."""

import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (DjangoClient, Ferry, RawHttp, free_port, http_ini, http_raw_get,
                      http_request, nginx_vars, parse_http_response, prepare_project,
                      uwsgi_get, uwsgi_request)

MTIME = 1614834367  # Thu, 04 Mar 2021 05:06:07 GMT
MTIME_HTTP = "Thu, 04 Mar 2021 05:06:07 GMT"
# A real 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e5279bb10000000049454e44ae426082")


def mime_types_for(ext) -> set:
    """Every type /etc/mime.types gives the extension (normally exactly one)."""
    types = set()
    for line in Path("/etc/mime.types").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and ext in fields[1:]:
            types.add(fields[0])
    return types


def media_type(r):
    return (r.header("Content-Type") or "").split(";")[0].strip().lower()


@dataclass
class Site:
    root: Path  # DIR of /static
    other: Path  # DIR of /static/special (only with two mappings)
    secret: bytes  # in root's parent, next to DIR
    elsewhere: bytes  # in another directory, reached only through symlinks
    addr: str  # HTTP listener
    sock: Path  # uwsgi socket
    ferry: Ferry


def build_site(tmp) -> tuple[Path, Path, bytes, bytes]:
    site = tmp / "site"
    root = site / "static"
    other = site / "special2"
    outside = tmp / "outside"
    for d in (root / "sub", root / "special", other, outside):
        d.mkdir(parents=True)
    secret = b"TOP-SECRET-" + uuid.uuid4().hex.encode()
    elsewhere = b"ELSEWHERE-SECRET-" + uuid.uuid4().hex.encode()
    (site / "secret.txt").write_bytes(secret)
    (outside / "elsewhere.txt").write_bytes(elsewhere)
    (root / "style.css").write_text("body { color: #123456; }\n")
    (root / "app.js").write_text("console.log('ferry');\n")
    (root / "logo.png").write_bytes(PNG)
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    (root / "a b.txt").write_text("spaced name\n")
    (root / "sub" / "deep.txt").write_text("deep file\n")
    (root / "special" / "x.txt").write_text("one")
    (other / "x.txt").write_text("two")
    os.symlink("style.css", root / "inside.css")  # stays inside DIR
    os.symlink(outside / "elsewhere.txt", root / "escape.txt")  # leads outside
    os.symlink(outside, root / "outdir")  # a directory outside
    os.symlink("../secret.txt", root / "up.txt")  # relative, to DIR's parent
    for dirpath, dirnames, filenames in os.walk(site):
        for name in filenames:
            os.utime(Path(dirpath) / name, (MTIME, MTIME))
    return root, other, secret, elsewhere


@pytest.fixture
def site(ferry, tmp):
    """Factory: site(*mappings) -> Site: ferry with HTTP and a uwsgi socket, and the given
    static-map lines (default: /static=DIR)."""

    def make(*mappings):
        root, other, secret, elsewhere = build_site(tmp)
        mappings = mappings or ("/static={root}",)
        lines = [f"static-map = {m.format(root=root, other=other)}" for m in mappings]
        port = free_port()
        addr = f"127.0.0.1:{port}"
        f = ferry(http_ini(tmp, port, f"socket = {tmp}/s.sock", *lines),
                  sockets=[addr, tmp / "s.sock"])
        return Site(root, other, secret, elsewhere, addr, tmp / "s.sock", f)

    return make


def uwsgi_static(s, path, headers=None, method="GET"):
    return parse_http_response(uwsgi_request(s.sock, nginx_vars(path, method=method,
                                                                headers=headers)))


# --------------------------------------------------------------------------------------
# Serving files


@pytest.mark.parametrize("name,ext", [("style.css", "css"), ("app.js", "js"),
                                      ("logo.png", "png")])
def test_file_is_served_with_type_length_and_last_modified(site, name, ext):
    s = site()
    expected_types = mime_types_for(ext)
    assert expected_types, f"/etc/mime.types has no type for .{ext}"
    data = (s.root / name).read_bytes()
    for r in (http_raw_get(s.addr, f"/static/{name}"), uwsgi_get(s.sock, f"/static/{name}")):
        assert r.status == 200, (r.status, r.headers, r.body[:200])
        assert r.body == data
        assert media_type(r) in expected_types, (r.header("Content-Type"), expected_types)
        assert r.header("Content-Length") == str(len(data))
        assert r.header("Last-Modified") == MTIME_HTTP
    assert mime_types_for("css") == {"text/css"} and mime_types_for("png") == {"image/png"}


@pytest.mark.parametrize("ims,status", [
    (MTIME_HTTP, 304),  # equal
    ("Fri, 05 Mar 2021 00:00:00 GMT", 304),  # later
    ("Wed, 03 Mar 2021 00:00:00 GMT", 200),  # earlier
])
def test_if_modified_since(site, ims, status):
    s = site()
    data = (s.root / "style.css").read_bytes()
    with RawHttp(s.addr) as c:
        r = c.request("GET", "/static/style.css", headers=[("If-Modified-Since", ims)])
        assert r.status == status, (r.status, r.headers)
        assert r.body == (data if status == 200 else b"")
        # A 304 has no body at all: the next response parses from its first byte.
        assert c.request("GET", "/static/sub/deep.txt").body == b"deep file\n"
    r = uwsgi_static(s, "/static/style.css", headers=[("If-Modified-Since", ims)])
    assert r.status == status, (r.status, r.headers)
    assert r.body == (data if status == 200 else b"")


def test_head_on_a_static_file(site):
    s = site()
    with RawHttp(s.addr) as c:
        r = c.request("HEAD", "/static/logo.png")
        assert (r.status, r.header("Content-Length"), r.body) == (200, str(len(PNG)), b"")
        assert c.request("GET", "/static/logo.png").body == PNG


def test_large_file_twice_on_one_connection(site):
    s = site()
    data = (s.root / "big.bin").read_bytes()
    with RawHttp(s.addr, timeout=30) as c:
        for _ in range(2):
            r = c.request("GET", "/static/big.bin")
            assert r.status == 200 and r.header("Content-Length") == str(len(data))
            assert r.body == data
        assert c.request("GET", "/after").body == b"app:/after"
    r = uwsgi_get(s.sock, "/static/big.bin", timeout=30)
    assert r.status == 200 and r.body == data


def test_encoded_names_and_query_strings(site):
    s = site()
    r = http_raw_get(s.addr, "/static/a%20b.txt")
    assert (r.status, r.body) == (200, b"spaced name\n")
    r = http_raw_get(s.addr, "/static/style.css?v=3")
    assert r.status == 200 and r.body == (s.root / "style.css").read_bytes()
    r = http_raw_get(s.addr, "/static/sub/deep.txt")
    assert (r.status, r.body) == (200, b"deep file\n")


def test_missing_file_falls_through_to_the_app(site):
    s = site()
    r = http_raw_get(s.addr, "/static/nope.css")
    assert (r.status, r.body) == (200, b"app:/static/nope.css")
    r = uwsgi_get(s.sock, "/static/nope.css")
    assert (r.status, r.body) == (200, b"app:/static/nope.css")
    # Outside every prefix: the app, as always.
    assert http_raw_get(s.addr, "/style.css").body == b"app:/style.css"


@pytest.mark.parametrize("order", ["short-first", "long-first"])
def test_longest_prefix_wins(site, order):
    maps = ["/static={root}", "/static/special={other}"]
    s = site(*(maps if order == "short-first" else maps[::-1]))
    assert http_raw_get(s.addr, "/static/special/x.txt").body == b"two"
    assert uwsgi_get(s.sock, "/static/special/x.txt").body == b"two"
    assert http_raw_get(s.addr, "/static/style.css").body == (s.root / "style.css").read_bytes()


# --------------------------------------------------------------------------------------
# Escapes: `..`, encoded `..`, symlinks


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/./../secret.txt",
]


def assert_refused(r, s, what):
    assert r.status in (403, 404), f"{what}: {r.status} {r.headers} {r.body[:200]!r}"
    assert s.secret not in r.body and s.elsewhere not in r.body, f"{what}: leaked"


@pytest.mark.parametrize("target", TRAVERSALS)
def test_dot_dot_leaves_the_mapping_on_the_http_listener(site, target):
    # As behind nginx, the path is normalized before anything looks at it: "/static/.."
    # is "/", so the request is the app's, for /secret.txt, and never the file's.
    s = site()
    with RawHttp(s.addr) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        r = c.read_response()
    assert s.secret not in r.body and s.elsewhere not in r.body, f"HTTP {target}: leaked"
    assert (r.status, r.body) == (200, b"app:/secret.txt"), f"HTTP {target}: {r.status} {r.body[:200]!r}"


@pytest.mark.parametrize("path", ["/static/../secret.txt", "/static/sub/../../secret.txt"])
def test_dot_dot_is_refused_on_the_uwsgi_socket(site, path):
    """nginx normalizes `..` away, but anything can write to the socket."""
    s = site()
    assert_refused(uwsgi_get(s.sock, path), s, f"uwsgi {path}")


@pytest.mark.parametrize("target", ["/static../secret.txt", "/static/..", "/static/../",
                                    "/static//etc/passwd", "/static/%2fetc%2fpasswd",
                                    "/static/sub/..%5c..%5csecret.txt"])
def test_other_escapes_never_leak(site, target):
    """Outside the prefix or simply odd: whoever answers, nothing outside DIR comes back."""
    s = site()
    passwd = Path("/etc/passwd").read_bytes()
    for r in (http_raw_get(s.addr, target),
              parse_http_response(uwsgi_request(s.sock, nginx_vars(target)))):
        assert s.secret not in r.body and s.elsewhere not in r.body, (target, r.body[:200])
        assert passwd[:64] not in r.body, (target, r.body[:200])
        if r.status == 200:
            assert r.body.startswith(b"app:"), (target, r.headers, r.body[:200])


@pytest.mark.parametrize("path", ["/static/escape.txt", "/static/outdir/elsewhere.txt",
                                  "/static/up.txt"])
def test_symlink_leading_outside_is_refused(site, path):
    s = site()
    assert_refused(http_raw_get(s.addr, path), s, f"HTTP {path}")
    assert_refused(uwsgi_get(s.sock, path), s, f"uwsgi {path}")


def test_symlink_within_dir_is_served(site):
    s = site()
    data = (s.root / "style.css").read_bytes()
    for r in (http_raw_get(s.addr, "/static/inside.css"), uwsgi_get(s.sock, "/static/inside.css")):
        assert (r.status, r.body) == (200, data)
        assert media_type(r) == "text/css"


def test_curl_if_modified_since(site, tmp):
    s = site()
    r = subprocess.run(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}",
                        "-z", MTIME_HTTP, f"http://{s.addr}/static/style.css"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"304"
    r = subprocess.run(["curl", "-sS", "--http1.1", "-o", tmp / "got.css", "-w", "%{http_code}",
                        "-z", "Wed, 03 Mar 2021 00:00:00 GMT",
                        f"http://{s.addr}/static/style.css"], capture_output=True, timeout=30)
    assert r.stdout == b"200"
    assert (tmp / "got.css").read_bytes() == (s.root / "style.css").read_bytes()


# --------------------------------------------------------------------------------------
# The user's development command, serving the demo


def test_development_command_serves_the_demo_admin_with_its_css(ferry, tmp):
    """`ferry --http 127.0.0.1:PORT --module server_dev.wsgi --static-map /static=...`
    from the project directory: the admin and its stylesheets, without nginx."""
    base, data = prepare_project(tmp, static=True)
    static_root = data / "static"
    port = free_port()
    addr = f"127.0.0.1:{port}"
    f = ferry(args=["--http", addr, "--module", "server_dev.wsgi",
                    "--static-map", f"/static={static_root}"],
              workdir=base, env={"FERRY_DEMO_DATA": str(data)}, sockets=[addr])

    status, _, body = http_request(port, "GET", "/")
    assert (status, body) == (200, b"Hello from ferry"), f.diagnostics()

    status, headers, body = http_request(port, "GET", "/admin/login/")
    page = body.decode("utf-8", "replace")
    assert status == 200, page[:2000]
    assert dict((k.lower(), v) for k, v in headers)["content-type"].startswith("text/html")
    css = re.findall(r'<link[^>]+href="(/static/[^"]+\.css)"', page)
    assert "/static/admin/css/base.css" in css, css
    for href in css:
        status, headers, body = http_request(port, "GET", href)
        assert status == 200, (href, status, body[:300])
        assert dict((k.lower(), v) for k, v in headers)["content-type"].split(";")[0] \
            == "text/css", (href, headers)
        assert body == (static_root / href[len("/static/"):]).read_bytes(), href

    # And the admin works end to end over HTTP: CSRF form, POST, cookies, session.
    DjangoClient(port).admin_login()
