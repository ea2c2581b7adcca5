"""Sends the file named by $BENCH_DOWNLOAD_FILE (compare.py makes a 100 MiB one) through
wsgi.file_wrapper, which every server compared turns into sendfile(2)."""

import os

PATH = os.environ["BENCH_DOWNLOAD_FILE"]


def application(environ, start_response):
    f = open(PATH, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 1024 * 1024)
