"""An app that reports where and how it was imported, for the preload tests.

PRELOAD_VERSION_FILE names a file whose content is served as the version; "broken"
makes the import fail. PRELOAD_BLOB_MB allocates that much at import, to measure how much
memory the workers share with the master."""

import gc
import json
import os

IMPORTED_IN = os.getpid()
FORK_EVENTS = []
os.register_at_fork(before=lambda: FORK_EVENTS.append("before"),
                    after_in_parent=lambda: FORK_EVENTS.append("parent"),
                    after_in_child=lambda: FORK_EVENTS.append("child"))

_version_file = os.environ.get("PRELOAD_VERSION_FILE")
VERSION = open(_version_file).read().strip() if _version_file else "none"
if VERSION == "broken":
    raise RuntimeError("this version of the app is broken on purpose")

BLOB = b"\x01" * (int(os.environ.get("PRELOAD_BLOB_MB", "0")) * 1024 * 1024)  # touched, so resident
# A file opened at import: a worker forked from the master must still be able to read it.
IMPORT_FILE = open(__file__, "rb")


def application(environ, start_response):
    import ferry

    IMPORT_FILE.seek(0)
    body = json.dumps({
        "imported_in": IMPORTED_IN,
        "pid": os.getpid(),
        "version": VERSION,
        "fork_events": FORK_EVENTS,
        "frozen": gc.get_freeze_count(),
        "gc_enabled": gc.isenabled(),
        "worker_id": ferry.worker_id,
        "environ_worker_id": environ["ferry.worker_id"],
        "import_file_ok": IMPORT_FILE.read(3) == b'"""',
        "blob": len(BLOB),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
