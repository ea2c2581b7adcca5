import os
import threading

from django.db import connection
from django.http import HttpResponse, JsonResponse


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
