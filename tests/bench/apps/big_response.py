"""A 1 MiB response body, built once: measures how the server writes a large buffer."""

BODY = bytes(range(256)) * (1024 * 1024 // 256)
HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
