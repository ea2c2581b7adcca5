"""The PEP 3333 conformance app: one behaviour per PATH_INFO, parameters in the query string.

Results come back as JSON; request-body bytes are reported as str decoded latin-1, so the
test sees exactly the bytes the app got. Some behaviours can only be observed after the
response ended (close(), blksize reads, a kept wsgi.input): those are kept in module globals
and reported by a second request, so this app runs with processes = 1 for them.
"""

import array
import hashlib
import importlib.util
import io
import json
import os
import sys
import time
from urllib.parse import parse_qs

import ferry

# Kept across requests (one worker): see the module docstring.
_kept_input = None
_kept_files = {}
_recorded_reads = {}


def _q(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _send(start_response, data, status="200 OK", ctype="text/plain", extra=()):
    data = data.encode() if isinstance(data, str) else data
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))] + list(extra))
    return [data]


def _json(start_response, obj, status="200 OK"):
    return _send(start_response, json.dumps(obj, sort_keys=True), status=status, ctype="application/json")


def _rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def _mark(path, what):
    """Appends one line to the marker file `path` (one line per call: the count)."""
    if path:
        with open(path, "a") as f:
            f.write(f"{what} pid={os.getpid()}\n")


def _describe(value):
    """A JSON-able record of what a wsgi.input method returned: its type and its bytes."""
    if isinstance(value, list):
        return {"type": "list", "items": [_describe(v) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"type": type(value).__name__, "value": bytes(value).decode("latin-1")}
    return {"type": type(value).__name__, "value": repr(value)}


# -- wsgi.input -----------------------------------------------------------------------------


def input_ops(environ, start_response, q):
    """ops=read:5,read,read:-1,read:None,readline,readline:3,readlines,readlines:4,iter
    applies each to wsgi.input in order and reports what each returned."""
    inp = environ["wsgi.input"]
    out = []
    for op in filter(None, q.get("ops", "").split(",")):
        name, _, arg = op.partition(":")
        try:
            if name == "iter":
                value = list(inp)
            elif name == "next":
                value = next(inp)
            elif arg == "":
                value = getattr(inp, name)()
            elif arg == "None":
                value = getattr(inp, name)(None)
            else:
                value = getattr(inp, name)(int(arg))
            out.append(_describe(value))
        except Exception as e:  # reported, so the test sees which op failed and how
            out.append({"type": "exception", "value": f"{type(e).__name__}: {e}"})
    return _json(start_response, {"ops": out, "content_length": environ.get("CONTENT_LENGTH")})


def input_consume(environ, start_response, q):
    """Reads the whole body in `chunk`-byte reads; reports its size, sha256 and RSS.
    keep=N holds on to the first N bytes read until the response (a control: the RSS the
    app reports must show it)."""
    inp = environ["wsgi.input"]
    chunk = int(q.get("chunk", "65536"))
    keep = int(q.get("keep", "0"))
    hashed = q.get("nohash") != "1"  # nohash=1: size only, for the 1 GiB test
    kept = []
    rss_before = _rss_kb()
    peak = rss_before
    digest = hashlib.sha256()
    total = reads = 0
    biggest = 0
    for _ in range(10_000_000):  # bounded: 10 M reads is far past any test body
        block = inp.read(chunk)
        if not block:
            break
        if not isinstance(block, bytes):
            raise TypeError(f"wsgi.input.read returned {type(block).__name__}")
        biggest = max(biggest, len(block))
        if total < keep:
            kept.append(block)
        if hashed:
            digest.update(block)
        total += len(block)
        reads += 1
        if reads % 16 == 0:
            peak = max(peak, _rss_kb())
    rss_after = _rss_kb()
    return _json(start_response, {
        "length": total, "sha256": digest.hexdigest(), "reads": reads, "biggest_read": biggest,
        "rss_before_kb": rss_before, "rss_peak_kb": max(peak, rss_after), "rss_after_kb": rss_after,
        "pid": os.getpid(), "content_length": environ.get("CONTENT_LENGTH"), "kept": sum(map(len, kept)),
    })


def input_ignore(environ, start_response, q):
    """Answers without touching the body."""
    return _send(start_response, "ignored the body")


def input_keep(environ, start_response, q):
    global _kept_input
    _kept_input = environ["wsgi.input"]
    return _send(start_response, "kept")


def input_stale(environ, start_response, q):
    """Uses the wsgi.input kept by /input/keep, after its request has ended."""
    out = {}
    calls = {
        "read": lambda i: i.read(),
        "read_n": lambda i: i.read(10),
        "readline": lambda i: i.readline(),
        "readlines": lambda i: i.readlines(),
        "iter": lambda i: next(iter(i)),
    }
    for name, call in calls.items():
        if _kept_input is None:
            out[name] = "nothing kept"
            continue
        try:
            out[name] = f"returned {call(_kept_input)!r}"
        except Exception as e:
            out[name] = type(e).__name__
    return _json(start_response, out)


# -- start_response -------------------------------------------------------------------------

BAD_HEADERS = {
    "str": "Content-Type: text/plain",
    "dict": {"Content-Type": "text/plain"},
    "tuple_of_tuples": (("Content-Type", "text/plain"),),
    "list_of_lists": [["Content-Type", "text/plain"]],
    "three_tuple": [("Content-Type", "text/plain", "x")],
    "bytes_name": [(b"Content-Type", "text/plain")],
    "bytes_value": [("Content-Type", b"text/plain")],
    "int_value": [("X-Number", 5)],
    "non_latin1_value": [("X-Euro", "price \u20ac")],
    "non_latin1_name": [("X-\u20ac", "x")],
    "crlf_value": [("X-A", "a\r\nX-Injected: yes")],
    "lf_value": [("X-A", "a\nX-Injected: yes")],
    "cr_value": [("X-A", "a\rX-Injected: yes")],
    "nul_value": [("X-A", "a\x00X-Injected: yes")],
    "crlf_name": [("X-A\r\nX-Injected", "yes")],
    "lf_name": [("X-A\nX-Injected", "yes")],
    "nul_name": [("X-A\x00X-Injected", "yes")],
    "colon_name": [("X-A: a\r\nX-Injected", "yes")],
    "hop_connection": [("Connection", "close")],
    "hop_transfer_encoding": [("Transfer-Encoding", "chunked")],
    "hop_transfer_encoding_lower": [("transfer-encoding", "chunked")],
    "hop_keep_alive": [("Keep-Alive", "timeout=5")],
    "hop_upgrade": [("Upgrade", "websocket")],
    "hop_te": [("TE", "trailers")],
    "hop_trailer": [("Trailer", "X-Checksum")],
    "hop_proxy_authenticate": [("Proxy-Authenticate", "Basic")],
}


def sr_status(environ, start_response, q):
    start_response(q["s"], [("Content-Type", "text/plain")])
    return [b"status accepted"]


def sr_bytes_status(environ, start_response, q):
    start_response(b"200 OK", [("Content-Type", "text/plain")])
    return [b"bytes status accepted"]


def sr_headers(environ, start_response, q):
    headers = BAD_HEADERS[q["kind"]]
    if isinstance(headers, list):
        headers = [("Content-Type", "text/plain")] + headers
    start_response("200 OK", headers)
    return [b"headers accepted"]


def sr_exc_before(environ, start_response, q):
    """Starts a 200, hits an error before sending anything, and switches to a 500."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "yes")])
    try:
        raise ValueError("something broke " + q.get("token", ""))
    except ValueError:
        start_response("500 Broke Early", [("Content-Type", "text/plain"), ("X-Second", "yes")], sys.exc_info())
    return [b"the replacement body"]


def sr_exc_after(environ, start_response, q):
    """Sends part of the body, then fails and calls start_response with exc_info: it must
    re-raise the app's own exception (PEP 3333), which ends the response."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    token = q.get("token", "")

    def body():
        yield b"first part;"
        try:
            raise ValueError("late failure " + token)
        except ValueError:
            start_response("500 Too Late", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"NOT REACHED: start_response did not raise"
    return body()


def sr_twice(environ, start_response, q):
    """A second start_response without exc_info: the app catches what it raises."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        start_response("201 Created", [("Content-Type", "text/plain")])
    except Exception as e:
        return [f"second call raised {type(e).__name__}".encode()]
    return [b"second call accepted"]


def sr_write(environ, start_response, q):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    kind = q.get("kind", "list")
    write(b"a")
    write(bytearray(b"b"))
    if kind == "gen":
        def gen():
            yield b"c"
            yield b"d"
        return gen()
    return [b"c", b"d"]


def sr_empty_then_raise(environ, start_response, q):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def body():
        yield b""
        yield b""
        raise RuntimeError("failed after empty chunks " + q.get("token", ""))
    return body()


def sr_empty_then_switch(environ, start_response, q):
    """The first chunk is empty, so the headers are unsent and exc_info can still replace them."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "yes")])

    def body():
        yield b""
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("503 Switched", [("Content-Type", "text/plain"), ("X-Second", "yes")], sys.exc_info())
        yield b"switched"
    return body()


# -- the response body ----------------------------------------------------------------------


def body_kinds(environ, start_response, q):
    chunks = [b"bytes;", bytearray(b"bytearray;"), memoryview(b"xxmemoryview;xx")[2:-2],
              array.array("B", b"array;"), b"", memoryview(bytearray(b"end"))]
    start_response("200 OK", [("Content-Type", "text/plain")])
    shape = q.get("shape", "list")
    if shape == "tuple":
        return tuple(chunks)
    if shape == "gen":
        return (c for c in chunks)
    return chunks


def body_bare_bytes(environ, start_response, q):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return b"a bare bytes body"


def body_str(environ, start_response, q):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if q.get("when") == "first":
        return ["a str chunk " + q.get("token", "")]

    def body():
        yield b"first part;"
        yield "a str chunk " + q.get("token", "")
        yield b"NOT REACHED"
    return body()


class Closing:
    """A response iterable whose close() appends a line to the marker file."""

    def __init__(self, mark, chunks, fail_at=None, delay=0.0):
        self.mark = mark
        self.chunks = chunks
        self.fail_at = fail_at
        self.delay = delay

    def __iter__(self):
        deadline = time.monotonic() + 30  # bounded even if nobody stops it
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("iteration failed on purpose")
            if time.monotonic() > deadline:
                return
            if self.delay:
                time.sleep(self.delay)
            yield chunk

    def close(self):
        _mark(self.mark, "closed")


def body_close(environ, start_response, q):
    mode = q.get("mode", "normal")
    mark = q["mark"]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if mode == "long":
        block = b"x" * 65536
        n = int(q.get("n", "3000"))
        return Closing(mark, (block for _ in range(n)), delay=float(q.get("delay", "0.002")))
    if mode == "raise":
        return Closing(mark, [b"one;", b"two;", b"three"], fail_at=int(q.get("fail_at", "1")))
    return Closing(mark, [b"one;", b"two;", b"three"])


def body_length(environ, start_response, q):
    """Declares Content-Length `declared` and sends `actual` bytes as `shape`."""
    declared = int(q["declared"])
    actual = int(q["actual"])
    data = bytes(ord("a") + i % 26 for i in range(actual))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(declared))])
    half = actual // 2
    if q.get("shape") == "gen":
        return (c for c in (data[:half], data[half:]))
    return [data[:half], data[half:]]


def body_head(environ, start_response, q):
    """The same response for GET and HEAD, as a list, a generator or a file_wrapper."""
    shape = q.get("shape", "list")
    if shape == "file":
        f = open(q["path"], "rb")
        size = os.fstat(f.fileno()).st_size
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](f)
    data = b"the body of a GET, never of a HEAD"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    if shape == "gen":
        return (c for c in (data[:10], data[10:]))
    return [data[:10], data[10:]]


# -- wsgi.file_wrapper ----------------------------------------------------------------------


class RecordingBytesIO(io.BytesIO):
    """A file-like object without a descriptor that records each read(size)."""

    def __init__(self, data, key):
        super().__init__(data)
        self.key = key
        _recorded_reads[key] = []

    def read(self, size=-1):
        _recorded_reads[self.key].append(size)
        return super().read(size)


def fw_file(environ, start_response, q):
    mode = q.get("mode", "rb")
    f = open(q["path"], mode)
    if "read" in q:
        f.read(int(q["read"]))
    if "seek" in q:
        f.seek(int(q["seek"]))
    _kept_files[q.get("key", "last")] = f
    headers = [("Content-Type", "application/octet-stream")]
    if "cl" in q:
        headers.append(("Content-Length", q["cl"]))
    start_response("200 OK", headers)
    if "blksize" in q:
        return environ["wsgi.file_wrapper"](f, int(q["blksize"]))
    return environ["wsgi.file_wrapper"](f)


def fw_bytesio(environ, start_response, q):
    size = int(q.get("size", "100000"))
    data = bytes(i % 251 for i in range(size))
    f = RecordingBytesIO(data, q.get("key", "last"))
    _kept_files[q.get("key", "last")] = f
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, int(q.get("blksize", "1234")))


def fw_report(environ, start_response, q):
    """Whether the file behind /fw/* with this key was closed, and the reads it saw."""
    key = q.get("key", "last")
    f = _kept_files.get(key)
    return _json(start_response, {"known": f is not None, "closed": bool(f is not None and f.closed),
                                  "reads": _recorded_reads.get(key)})


# -- environ and the ferry module -----------------------------------------------------------


def environ_dump(environ, start_response, q):
    cgi = {k: v for k, v in environ.items() if isinstance(k, str) and not k.startswith(("wsgi.", "ferry."))}
    return _json(start_response, {
        "cgi": {k: v if isinstance(v, str) else f"<{type(v).__name__}>" for k, v in cgi.items()},
        "non_str": sorted(repr(k) for k, v in environ.items()
                          if not isinstance(k, str) or (k in cgi and not isinstance(v, str))),
        "url_scheme": environ.get("wsgi.url_scheme"),
        "multithread": environ.get("wsgi.multithread"),
        "multiprocess": environ.get("wsgi.multiprocess"),
        "ferry.version": environ.get("ferry.version", "<absent>"),
        "ferry.worker_id": environ.get("ferry.worker_id", "<absent>"),
    })


def ferry_module(environ, start_response, q):
    try:
        import uwsgi  # noqa: F401 - must not exist
        uwsgi_import = "imported"
    except ImportError as e:
        uwsgi_import = type(e).__name__
    time.sleep(float(q.get("s", "0")))
    return _json(start_response, {
        "version": ferry.version, "worker_id": ferry.worker_id, "running": ferry.running(),
        "environ_version": environ.get("ferry.version"), "environ_worker_id": environ.get("ferry.worker_id"),
        "uwsgi_spec": importlib.util.find_spec("uwsgi") is not None, "uwsgi_import": uwsgi_import,
        "uwsgi_in_sys_modules": "uwsgi" in sys.modules, "pid": os.getpid(),
        "multithread": environ.get("wsgi.multithread"), "multiprocess": environ.get("wsgi.multiprocess"),
    })


ROUTES = {
    "/input/ops": input_ops,
    "/input/consume": input_consume,
    "/input/ignore": input_ignore,
    "/input/keep": input_keep,
    "/input/stale": input_stale,
    "/sr/status": sr_status,
    "/sr/bytes-status": sr_bytes_status,
    "/sr/headers": sr_headers,
    "/sr/exc-before": sr_exc_before,
    "/sr/exc-after": sr_exc_after,
    "/sr/twice": sr_twice,
    "/sr/write": sr_write,
    "/sr/empty-then-raise": sr_empty_then_raise,
    "/sr/empty-then-switch": sr_empty_then_switch,
    "/body/kinds": body_kinds,
    "/body/bare-bytes": body_bare_bytes,
    "/body/str": body_str,
    "/body/close": body_close,
    "/body/length": body_length,
    "/body/head": body_head,
    "/fw/file": fw_file,
    "/fw/bytesio": fw_bytesio,
    "/fw/report": fw_report,
    "/ferry": ferry_module,
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/environ"):
        return environ_dump(environ, start_response, _q(environ))
    handler = ROUTES.get(path)
    if handler is None:
        return _send(start_response, f"no route {path}", status="404 Not Found")
    return handler(environ, start_response, _q(environ))
