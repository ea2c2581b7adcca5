"""wsgi.input allocates for a read as the body arrives, not as CONTENT_LENGTH promises: a
client that claims 2 GB and sends a few bytes costs the worker no more than a megabyte or
so of address space, and a large body read whole still arrives intact."""

import hashlib
import json
import os
import socket

from conftest import basic_ini, nginx_vars, parse_http_response, uwsgi_packet, uwsgi_request
from fixtures.waiting import wait_until


def vm_peak_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmPeak:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmPeak in /proc/{pid}/status")


def test_a_claimed_2gb_body_that_never_comes_costs_nothing(ferry, tmp):
    f = ferry(basic_ini(tmp, module="read_all", processes=1))
    [worker] = f.wait_workers(1)
    before = vm_peak_kb(worker)
    mark = tmp / "reached-app"
    vars = nginx_vars("/claim", method="POST", body=b"x", headers=[("X-Mark", str(mark))])
    vars = [(k, "2000000000" if k == "CONTENT_LENGTH" else v) for k, v in vars]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(tmp / "s.sock"))
        s.sendall(uwsgi_packet(vars, b"only these bytes"))
        wait_until(mark.exists, timeout=10, message="the request to reach the app")
    # The client has gone: read() fails, the app's OSError is logged, and the worker lives.
    f.wait_log(r"error in POST /claim: the app raised an exception")
    growth_mb = (vm_peak_kb(worker) - before) / 1024
    assert growth_mb < 64, f"the worker's address space grew by {growth_mb:.0f} MB for a body that never came"
    body = os.urandom(1000)
    response = parse_http_response(uwsgi_request(tmp / "s.sock", nginx_vars("/next", method="POST", body=body), body))
    assert response.status == 200
    assert json.loads(response.body)["sha256"] == hashlib.sha256(body).hexdigest()
    assert f.workers() == [worker]


def test_large_bodies_read_whole_or_in_large_pieces_arrive_intact(ferry, tmp):
    ferry(basic_ini(tmp, module="read_all", processes=1))
    body = os.urandom(5 * 1024 * 1024 + 123)
    whole = parse_http_response(uwsgi_request(tmp / "s.sock", nginx_vars("/", method="POST", body=body), body,
                                              timeout=30))
    report = json.loads(whole.body)
    assert report["length"] == len(body) and report["types"] == ["bytes"]
    assert report["sha256"] == hashlib.sha256(body).hexdigest()
    # A small read first (served partly from what arrived with the packet), then pieces
    # above the 1 MiB up-front limit, then the rest.
    sizes = "10,3000000,2000000,999999999"
    vars = nginx_vars("/", method="POST", body=body, headers=[("X-Read-Sizes", sizes)])
    report = json.loads(parse_http_response(uwsgi_request(tmp / "s.sock", vars, body, timeout=30)).body)
    assert report["lengths"] == [10, 3000000, 2000000, len(body) - 5000010]
    assert report["sha256"] == hashlib.sha256(body).hexdigest()
