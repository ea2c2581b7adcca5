"""Reads the request body with wsgi.input.read(): all of it, or in the sizes the
X-Read-Sizes header lists; first touches the file X-Mark names, if any, so a test knows
the request reached the app."""

import hashlib
import json


def application(environ, start_response):
    mark = environ.get("HTTP_X_MARK")
    if mark:
        open(mark, "w").close()
    stream = environ["wsgi.input"]
    sizes = environ.get("HTTP_X_READ_SIZES")
    pieces = [stream.read(int(n)) for n in sizes.split(",")] if sizes else [stream.read()]
    body = b"".join(pieces)
    report = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
              "lengths": [len(p) for p in pieces], "types": sorted({type(p).__name__ for p in pieces})}
    out = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
