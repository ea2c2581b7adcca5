"""Loaded by path with wsgi-file (its directory is not on sys.path)."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from wsgi-file application"]


def alt(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from wsgi-file alt"]
