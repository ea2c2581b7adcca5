"""A chunked HTTP request body larger than the front keeps in memory (1 MiB) spills to an
unlinked temp file in $TMPDIR (or /tmp), as post-buffering does: the app, while its
request runs, finds the file among the worker's open descriptors."""

import hashlib
import json
import os

from conftest import RawHttp, chunked_body, free_port, http_ini, http_request_bytes

SPILL_APP = '''
import hashlib, json, os

def application(environ, start_response):
    inp = environ["wsgi.input"]
    data = b""
    while True:
        part = inp.read(65536)
        if not part:
            break
        data += part
    # The body's file is still open while the app runs: an O_TMPFILE shows as
    # "<dir>/#<inode> (deleted)".
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    out = json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "fds": targets}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
'''


def spill_targets(ferry, tmp, body, env):
    (tmp / "spillapp.py").write_text(SPILL_APP)
    port = free_port()
    ferry(http_ini(tmp, port, f"pythonpath = {tmp}", module="spillapp"), env=env,
          sockets=[f"127.0.0.1:{port}"])
    with RawHttp(("127.0.0.1", port), timeout=30) as c:
        c.send(http_request_bytes("POST", "/", headers=[("Transfer-Encoding", "chunked")],
                                  body=chunked_body(body, sizes=[65536])))
        r = c.read_response()
    assert r.status == 200
    answer = json.loads(r.body)
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()
    return answer["fds"]


def test_a_large_chunked_body_spills_to_tmpdir(ferry, tmp):
    spill = tmp / "spill"
    spill.mkdir()
    fds = spill_targets(ferry, tmp, os.urandom(3 * 1024 * 1024 + 5), {"TMPDIR": str(spill)})
    assert [t for t in fds if t.startswith(f"{spill}/#")], fds
    assert not [t for t in fds if t.startswith("/tmp/#")], fds


def test_a_small_chunked_body_stays_in_memory(ferry, tmp):
    spill = tmp / "spill"
    spill.mkdir()
    fds = spill_targets(ferry, tmp, os.urandom(1000), {"TMPDIR": str(spill)})
    assert not [t for t in fds if t.startswith(f"{spill}/#")], fds
