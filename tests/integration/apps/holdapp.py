"""Its import waits while the file named by HOLD_FILE exists: a slow import that a test
controls. Answers every request with a short body."""

import os
import time

_hold = os.environ.get("HOLD_FILE", "")
while _hold and os.path.exists(_hold):
    time.sleep(0.02)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
