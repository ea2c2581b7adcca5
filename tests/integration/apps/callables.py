"""A module without `application`: the callable must be named (module = callables:named
or callable = other)."""


def named(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from named"]


def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from other"]
