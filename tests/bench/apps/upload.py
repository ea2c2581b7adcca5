"""Reads the whole request body from wsgi.input in 64 KiB pieces and keeps none of it:
the server's cost of receiving a large upload, and whether its memory grows with it."""

CHUNK = 64 * 1024


def application(environ, start_response):
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    received = 0
    while remaining > 0:
        data = stream.read(min(CHUNK, remaining))
        if not data:
            break
        received += len(data)
        remaining -= len(data)
    status = "200 OK" if remaining == 0 else "400 Bad Request"
    body = f"{received}\n".encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
