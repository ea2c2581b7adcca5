"""Sleeps 100 ms per request, as an app waiting on a slow backend: run with threads, it
measures how the server overlaps requests inside a worker."""

import time

BODY = b"slept 100 ms\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    time.sleep(0.1)
    start_response("200 OK", HEADERS)
    return [BODY]
