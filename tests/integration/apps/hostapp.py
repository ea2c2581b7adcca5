"""Says which app version on which host answered: `APP_VERSION APP_HOST` (both from the
ini's `env =` lines), so a test behind a load balancer knows where each request went and
when a rolling upgrade reached every host. `?sleep=SECONDS` holds the request that long, so
requests are in flight when a host is stopped or killed; `?started=PATH` creates PATH once
the request runs, so a test knows it is in flight instead of guessing with a sleep."""

import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "started" in query:
        open(query["started"][0], "w").close()
    if "sleep" in query:
        time.sleep(float(query["sleep"][0]))
    body = f"{os.environ.get('APP_VERSION', '?')} {os.environ.get('APP_HOST', '?')}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
