"""Reports the CPU priority (nice) it was imported at, and those of the thread serving the
request and of a thread it started at import."""

import os
import threading
import time

IMPORT_NICE = os.getpriority(os.PRIO_PROCESS, 0)  # the importing thread's, on Linux
_tids = []
_started = threading.Event()


def _background():
    _tids.append(threading.get_native_id())
    _started.set()
    while True:
        time.sleep(3600)


threading.Thread(target=_background, daemon=True).start()
_started.wait()


def _thread_nice():
    # With preload the thread is the master's (threads do not survive fork), and a master
    # re-executed for a reload has a new one: then it is gone, reported as -100.
    try:
        return os.getpriority(os.PRIO_PROCESS, _tids[0])
    except OSError:
        return -100


def application(environ, start_response):
    body = (f"pid={os.getpid()} import={IMPORT_NICE} serving={os.getpriority(os.PRIO_PROCESS, 0)} "
            f"thread={_thread_nice()}").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
