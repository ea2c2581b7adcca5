"""Reports how the request body reached the app: under post-buffering, wsgi.input is
seekable, in memory for small bodies and an unlinked temp file for large ones."""

import hashlib
import json
import os
import resource


def application(environ, start_response):
    stream = environ["wsgi.input"]
    report = {"type": type(stream).__name__}
    first = stream.read(10)
    digest = hashlib.sha256()
    if hasattr(stream, "seek"):
        stream.seek(0)
        report["tell_after_seek"] = stream.tell()
    else:
        digest.update(first)
    while True:
        block = stream.read(65536)
        if not block:
            break
        digest.update(block)
    report["sha256"] = digest.hexdigest()
    report["first"] = first.decode("latin-1")
    if hasattr(stream, "fileno"):
        try:
            report["path"] = os.readlink(f"/proc/self/fd/{stream.fileno()}")
        except OSError:
            pass
    report["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    body = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
