"""A small app wrapped in wsgiref.validate with its warnings turned into errors: any
PEP 3333 violation by ferry (environ, start_response, wsgi.input, the iterable protocol)
raises inside the app and turns the response into a 500 with a traceback in the log."""

import warnings
from wsgiref.validate import validator

warnings.simplefilter("error")


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    payload = b"ok:" + environ["REQUEST_METHOD"].encode() + b":" + body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))])
    return [payload]


application = validator(app)
