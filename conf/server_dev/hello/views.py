import hashlib
import os
import threading

from django.core.files.uploadhandler import FileUploadHandler
from django.db import connection
from django.http import (HttpResponse, HttpResponseBadRequest, JsonResponse,
                         StreamingHttpResponse)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

MIB = 1024 * 1024
DOWNLOAD_CHUNK = 64 * 1024
MAX_DOWNLOAD_MB = 1024


def hello(request):
    return HttpResponse('Hello from ferry', content_type='text/plain; charset=utf-8')


def info(request):
    """Which process and which DB connection served this request.

    Tests use it to check that every worker opens its own database connection after fork
    and keeps it across requests (CONN_MAX_AGE).
    """
    with connection.cursor() as cursor:
        # Opening the cursor connects if this thread has no connection yet.
        if connection.vendor == 'mysql':
            cursor.execute('SELECT CONNECTION_ID()')
            server_connection_id = cursor.fetchone()[0]
        else:
            cursor.execute('SELECT 1')
            server_connection_id = None
    return JsonResponse({
        'pid': os.getpid(),
        'thread': threading.get_ident(),
        'db_vendor': connection.vendor,
        # id() alone can repeat across forked workers whose heaps are alike: the pid
        # makes it unique on the machine.
        'db_connection_id': f'{os.getpid()}:{id(connection.connection):x}',
        # The server's own number for the session (MySQL/MariaDB); None for SQLite.
        'db_server_connection_id': server_connection_id,
    })


class Sha256UploadHandler(FileUploadHandler):
    """Hashes every uploaded file as its chunks arrive and keeps none of it, so an upload
    of any size never sits in memory or in a temporary file."""

    def __init__(self, request=None):
        super().__init__(request)
        self.results = []

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def receive_data_chunk(self, raw_data, start):
        self.sha256.update(raw_data)
        self.size += len(raw_data)
        return None  # consumed: no later handler needs the chunk

    def file_complete(self, file_size):
        self.results.append({'field': self.field_name, 'name': self.file_name,
                             'size': self.size, 'sha256': self.sha256.hexdigest()})
        return None  # nothing to put in request.FILES


# CSRF-exempt for two reasons. The view stores nothing and acts for no user, so a forged
# cross-site POST gains nothing. And CsrfViewMiddleware reads request.POST to find the
# token, which would parse the whole body with the default upload handlers (a temporary
# file) before this view could install its streaming one. A view that keeps uploads or
# acts for a logged-in user would set upload_handlers here, then call a csrf_protect'ed
# inner view (the pattern in Django's file-upload docs).
@csrf_exempt
@require_POST
def upload(request):
    """POST /upload/ (multipart/form-data): the size and SHA-256 of each uploaded file,
    computed while the body streams in, and the form's other fields, as JSON."""
    hasher = Sha256UploadHandler(request)
    request.upload_handlers = [hasher]
    fields = {key: request.POST.getlist(key) for key in request.POST}  # parses the body
    return JsonResponse({'files': hasher.results, 'fields': fields})


def download_chunks(mb):
    """mb MiB in 64 KiB chunks; chunk i is i as 8 big-endian bytes, repeated. A client can
    check size and digest, and a lost, repeated or reordered chunk changes the digest."""
    for i in range(mb * MIB // DOWNLOAD_CHUNK):
        yield i.to_bytes(8, 'big') * (DOWNLOAD_CHUNK // 8)


@require_GET
def download(request):
    """GET /download/?mb=N: N MiB (default 1, at most 1024) of deterministic bytes,
    streamed chunk by chunk, never built whole in memory."""
    try:
        mb = int(request.GET.get('mb', '1'))
    except ValueError:
        return HttpResponseBadRequest('mb must be an integer\n')
    if not 0 <= mb <= MAX_DOWNLOAD_MB:
        return HttpResponseBadRequest(f'mb must be between 0 and {MAX_DOWNLOAD_MB}\n')
    response = StreamingHttpResponse(download_chunks(mb), content_type='application/octet-stream')
    response['Content-Length'] = str(mb * MIB)
    response['Content-Disposition'] = f'attachment; filename="ferry-{mb}mb.bin"'
    return response
