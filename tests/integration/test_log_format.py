"""The request log, shaped: log-format, logformat-strftime, log-date, log-x-forwarded-for,
JSON request lines, and disable-logging's exceptions (log-slow, log-4xx, log-5xx, log-big)."""

import json
import re

import pytest

from conftest import basic_ini, nginx_vars, uwsgi_get, uwsgi_request, wait_until

EXIT_CONFIG = 2


def lines_with(f, marker):
    return [l for l in f.log_lines() if marker in l]


def wait_line(f, marker, n=1):
    wait_until(lambda: len(lines_with(f, marker)) >= n, 10,
               message=f"{n} log line(s) with {marker!r}\n" + f.log_text()[-3000:])
    return lines_with(f, marker)


def test_log_format_fills_in_each_variable(ferry, tmp):
    fmt = ("LF addr=%(addr) user=%(user) method=%(method) uri=%(uri) proto=%(proto) status=%(status) "
           "size=%(size) rsize=%(rsize) hsize=%(hsize) headers=%(headers) cl=%(cl) msecs=%(msecs) "
           "micros=%(micros) time=%(time) epoch=%(epoch) ltime=[%(ltime)] host=%(host) uagent=%(uagent) "
           "referer=%(referer) pid=%(pid) wid=%(wid) rss=%(rss) vsz=%(vsz) id=%(var.HTTP_X_REQUEST_ID) end")
    f = ferry(basic_ini(tmp, f"log-format = {fmt}", processes=2))
    f.wait_workers(2)
    vars = nginx_vars("/echo", method="POST", body=b"12345", headers=[
        ("User-Agent", "probe/1"), ("Referer", "http://ref/"), ("X-Request-Id", "rid-42")])
    raw = uwsgi_request(tmp / "s.sock", vars, body=b"12345")
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    (line,) = wait_line(f, "LF addr=")
    m = re.fullmatch(
        r"LF addr=127\.0\.0\.1 user= method=POST uri=/echo proto=HTTP/1\.1 status=200 size=(\d+) rsize=(\d+) "
        r"hsize=(\d+) headers=(\d+) cl=5 msecs=(\d+) micros=(\d+) time=(\d+) epoch=(\d+) "
        r"ltime=\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] host=localhost uagent=probe/1 referer=http://ref/ "
        r"pid=(\d+) wid=([12]) rss=(\d+) vsz=(\d+) id=rid-42 end", line)
    assert m, line
    size, rsize, hsize, headers, msecs, micros, start, epoch, pid, _, rss, vsz = map(int, m.groups())
    assert size == rsize + hsize and rsize > 0 and hsize > 0 and headers >= 1
    assert micros // 1000 == msecs and epoch >= start
    assert pid in f.workers()
    assert 0 < rss < vsz


def test_an_unknown_variable_stops_ferry_naming_it_and_the_line(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-format = %(method) %(nosuch)"), start=False)
    assert f.run_to_exit(timeout=10) == EXIT_CONFIG, f.diagnostics()
    err = f.stderr
    assert "%(nosuch)" in err and "line 8" in err and "%(msecs)" in err, err


def test_client_text_cannot_forge_a_line(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-format = LF %(uri) ua=%(uagent)", processes=1))
    vars = nginx_vars("/x", headers=[("User-Agent", "a\nLF forged")])
    vars = [(k, b"/x\r\nLF forged\x1b" if k == "REQUEST_URI" else v) for k, v in vars]
    assert uwsgi_request(tmp / "s.sock", vars).startswith(b"HTTP/1.1 200")
    (line,) = wait_line(f, "LF /x")
    assert line == "LF /x\\x0d\\x0aLF forged\\x1b ua=a\\x0aLF forged", line
    assert not any(l.startswith("LF forged") for l in f.log_lines())


def test_logformat_strftime_and_log_date(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-format = LF %Y %(uri)", "logformat-strftime = true",
                        "log-date = [%Y-%m-%d]", processes=1))
    assert uwsgi_get(tmp / "s.sock", "/p%25Y").status == 200
    (line,) = wait_line(f, "]LF ")
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d\]LF \d{4} /p%25Y", line), line


def test_log_date_default_prefixes_the_default_line(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-date = true", processes=1))
    assert uwsgi_get(tmp / "s.sock", "/dated").status == 200
    (line,) = wait_line(f, "GET /dated")
    assert re.match(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} - \[pid: \d+\|app: 0\|req: 1/1\] ", line), line


def test_x_forwarded_for_through_nginx(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, "log-format = LF %(addr) %(uri)", "log-x-forwarded-for = true", processes=1))
    ng = nginx(tmp / "s.sock")
    status, _, _ = ng.request("GET", "/xff", headers=[("X-Forwarded-For", "203.0.113.7, 10.0.0.1")])
    assert status == 200
    status, _, _ = ng.request("GET", "/direct")
    assert status == 200
    wait_line(f, "LF 127.0.0.1 /direct")
    assert lines_with(f, "/xff") == ["LF 203.0.113.7 /xff"], f.log_text()[-2000:]


def test_without_log_x_forwarded_for_addr_is_nginx_peer(ferry, nginx, tmp):
    f = ferry(basic_ini(tmp, processes=1))
    ng = nginx(tmp / "s.sock")
    status, _, _ = ng.request("GET", "/xff", headers=[("X-Forwarded-For", "203.0.113.7")])
    assert status == 200
    (line,) = wait_line(f, "GET /xff")
    assert "] 127.0.0.1 () {" in line, line


HOSTILE_URIS = [b'/q?"quoted"', b"/back\\slash\\", b"/ctl\x01\x1b[31m\x7f", b"/bad\xff\xfe\xc3(",
                b"/nl\r\nforged", b"/utf8-\xc3\xa9\xe2\x82\xac"]


def test_json_request_lines_parse_even_for_hostile_requests(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-req-encoder = json", processes=1))
    for uri in HOSTILE_URIS:
        vars = nginx_vars("/h", headers=[("User-Agent", '"ua\\\x00\xff')])
        vars = [(k, uri if k == "REQUEST_URI" else v) for k, v in vars]
        assert uwsgi_request(tmp / "s.sock", vars).startswith(b"HTTP/1.1 200")
    wait_until(lambda: len([l for l in f.log_lines() if l.startswith('{"time"')]) >= len(HOSTILE_URIS), 10,
               message="a JSON line per request\n" + f.log_text()[-3000:])
    records = [json.loads(l) for l in f.log_lines() if l.startswith('{"time"')]
    assert [r["uri"] for r in records] == [
        '/q?"quoted"', "/back\\slash\\", "/ctl\x01\x1b[31m\x7f", "/bad\\xff\\xfe\\xc3(", "/nl\r\nforged",
        "/utf8-\u00e9\u20ac"]
    first = records[0]
    assert first["uagent"] == '"ua\\\x00\\xff'
    for key in ("status", "size", "rsize", "hsize", "msecs", "micros", "pid", "wid", "time", "cl"):
        assert isinstance(first[key], int), (key, first)
    assert first["status"] == 200 and first["rsize"] == 5 and first["wid"] == 1
    assert first["pid"] in f.workers() and first["method"] == "GET" and first["addr"] == "127.0.0.1"


def test_json_fields_follow_log_format(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-req-encoder = json", "log-format = %(status) %(uri) %(var.HTTP_X_ID) %(secs)",
                        processes=1))
    assert uwsgi_get(tmp / "s.sock", "/status", query="code=404%20Nope", headers=[("X-Id", "7")]).status == 404
    wait_until(lambda: any(l.startswith('{"status"') for l in f.log_lines()), 10, message=f.log_text())
    (record,) = [json.loads(l) for l in f.log_lines() if l.startswith('{"status"')]
    assert list(record) == ["status", "uri", "var.HTTP_X_ID", "secs"]
    assert record["status"] == 404 and record["var.HTTP_X_ID"] == "7" and isinstance(record["secs"], float)


def filtered_ferry(ferry, tmp, *options):
    f = ferry(basic_ini(tmp, "disable-logging = true", *options, processes=1))
    f.wait_workers(1)
    return f


def served(f, tmp, path, query=""):
    uwsgi_get(tmp / "s.sock", path, query=query)


def request_uris(f):
    return [m.group(1) for m in (re.search(r"\] (?:GET) (\S+) =>", l) for l in f.log_lines()) if m]


def wait_uris(f, n):
    wait_until(lambda: len(request_uris(f)) >= n, 10, message=f"{n} request line(s)\n" + f.log_text()[-3000:])
    return request_uris(f)


# Each filter alone: the requests in order, with disable-logging on; only the last one is kept.
FILTERS = {
    "log-slow = 250": [("/fast", ""), ("/sleep", "s=0.3")],
    "log-4xx = true": [("/ok", ""), ("/error", "token=x"), ("/status", "code=404%20Not%20Found")],
    "log-5xx = true": [("/ok", ""), ("/status", "code=404%20Not%20Found"), ("/error", "token=x")],
    "log-big = 10000": [("/big", "n=9999"), ("/big", "n=10000")],
}


@pytest.mark.parametrize("option", list(FILTERS))
def test_each_filter_keeps_only_its_requests(ferry, tmp, option):
    f = filtered_ferry(ferry, tmp, option)
    for path, query in FILTERS[option]:
        served(f, tmp, path, query)
    path, query = FILTERS[option][-1]
    assert wait_uris(f, 1) == [path + "?" + query]


def test_filters_combine(ferry, tmp):
    f = filtered_ferry(ferry, tmp, "log-big = 10000", "log-4xx = true", "log-5xx = true", "log-slow = 250")
    for path, query in [("/ok", ""), ("/status", "code=404%20No"), ("/big", "n=100"), ("/error", "token=y"),
                        ("/big", "n=20000"), ("/sleep", "s=0.3"), ("/last", "")]:
        served(f, tmp, path, query)
    assert wait_uris(f, 4) == ["/status?code=404%20No", "/error?token=y", "/big?n=20000", "/sleep?s=0.3"]


def test_without_disable_logging_every_request_is_logged(ferry, tmp):
    f = ferry(basic_ini(tmp, "log-4xx = true", processes=1))
    served(f, tmp, "/ok")
    served(f, tmp, "/status", "code=404%20No")
    assert wait_uris(f, 2) == ["/ok", "/status?code=404%20No"]


def test_bad_values_name_the_option_and_line(ferry, tmp):
    for option, expected in [("log-slow = soon", "log-slow expects a whole number of milliseconds"),
                             ("log-big = 1k", "log-big expects a whole number of bytes"),
                             ("log-req-encoder = gzip", "'json' encoder only"),
                             ("log-encoder = json {\"m\":\"${msg}\"}", "takes no template"),
                             ("log-format = %(uri", "no closing ')'")]:
        f = ferry(basic_ini(tmp, option), start=False)
        assert f.run_to_exit(timeout=10) == EXIT_CONFIG, f.diagnostics()
        assert expected in f.stderr and "line 8" in f.stderr, (option, f.stderr)
