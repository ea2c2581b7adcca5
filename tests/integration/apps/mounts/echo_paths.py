"""Apps that answer with their name, SCRIPT_NAME and PATH_INFO: which app ran, and how
ferry split the path."""

import json


def _answer(name, environ, start_response):
    body = json.dumps({"app": name, "script_name": environ["SCRIPT_NAME"],
                       "path_info": environ["PATH_INFO"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def main(environ, start_response):
    return _answer("main", environ, start_response)


def api(environ, start_response):
    return _answer("api", environ, start_response)


def deep(environ, start_response):
    return _answer("deep", environ, start_response)
