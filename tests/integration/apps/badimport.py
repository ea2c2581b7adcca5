"""An app module that fails at import: ferry must exit 4 and show this traceback."""


def _helper_that_fails():
    raise RuntimeError("import failure marker 7f3a")


_helper_that_fails()


def application(environ, start_response):  # pragma: no cover - never reached
    start_response("200 OK", [])
    return [b"unreachable"]
