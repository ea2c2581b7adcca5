"""WSGI entry point: ferry loads it with `module = server_dev.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'server_dev.settings')

application = get_wsgi_application()
