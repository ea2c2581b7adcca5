"""The stats tests' app: answers "hello", raises, or blocks until a file appears.

/           200 "hello"
/raise      raises (the server answers 500: one exception)
/block      writes the file named by ?started=, then waits until ?mark= exists
"""

import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/raise":
        raise RuntimeError("statsapp raised, as asked")
    if path == "/block":
        if "started" in q:
            with open(q["started"], "w") as f:
                f.write(str(os.getpid()))
        while not os.path.exists(q["mark"]):
            time.sleep(0.01)  # the test creates the mark; a blocking app is the point here
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]
