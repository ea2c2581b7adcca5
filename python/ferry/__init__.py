"""ferry's Python side, importable by any app that ferry serves (``import ferry``).

- ``ferry.version``: the ferry version serving this process (None outside ferry).
- ``ferry.worker_id``: this worker's number, 1..processes (0 outside ferry).
- ``ferry.running()``: True inside a ferry worker.
- ``ferry.FileWrapper``: what ``environ['wsgi.file_wrapper']`` is. Return
  ``environ['wsgi.file_wrapper'](open(path, 'rb'))`` and ferry sends the file with
  sendfile(2), starting from the file's current position, with no Python per block.
  A file-like object without a real file descriptor is read in ``blksize`` blocks.

ferry deliberately does not provide a module named ``uwsgi``: monitoring libraries that
find one assume uWSGI's internals behind it.
"""

version = None  # set by the worker when it starts
worker_id = 0  # set by the worker when it starts


def running():
    """True when this code runs inside a ferry worker."""
    return version is not None


class FileWrapper:
    """wsgi.file_wrapper (PEP 3333): an efficient way to return a file as the body."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        # Used only when the file has no usable descriptor (io.BytesIO, a socket file...).
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block
