"""`module = pkg.wsgi` (default callable) and `module = pkg.wsgi:app2`."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"pkg.wsgi application"]


def app2(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"pkg.wsgi app2"]
