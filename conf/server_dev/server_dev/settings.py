"""Settings of the ferry demo project.

Everything that differs between a checkout, the Quick start and the integration tests comes
from the environment, so the code never needs editing:

  FERRY_DEMO_DATA            writable directory for the SQLite file and the static files
                             (default: data/ next to manage.py)
  FERRY_DEMO_STATIC          STATIC_ROOT (default: $FERRY_DEMO_DATA/static)
  FERRY_DEMO_DEBUG           1/true/yes/on turns Django's DEBUG on (default off)
  FERRY_DEMO_SECRET_KEY      SECRET_KEY (default: a public, demo-only key)
  FERRY_DEMO_DB              sqlite (default) or mysql (MariaDB or MySQL)
  FERRY_DEMO_MYSQL_SOCKET    Unix socket of the MySQL server (default: the client library's)
  FERRY_DEMO_MYSQL_HOST      host name of the MySQL server, for TCP (as in compose, where it
                             runs in a container of its own); the socket wins if both are set
  FERRY_DEMO_MYSQL_PORT      its TCP port (default 3306)
  FERRY_DEMO_MYSQL_DB        database name (default server_dev)
  FERRY_DEMO_MYSQL_USER      user (default root)
  FERRY_DEMO_MYSQL_PASSWORD  password (default empty)
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def _env_flag(name):
    return os.environ.get(name, '').strip().lower() in ('1', 'true', 'yes', 'on')


BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get('FERRY_DEMO_DATA') or BASE_DIR / 'data')
# SQLite creates its file but not the directory, and collectstatic wants it too.
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Demo only: this default key is public. Set FERRY_DEMO_SECRET_KEY for anything real.
SECRET_KEY = os.environ.get('FERRY_DEMO_SECRET_KEY',
                            'demo-only-insecure-key-do-not-use-in-production')

DEBUG = _env_flag('FERRY_DEMO_DEBUG')

# Demo only: accept any Host header. A real site lists its own names here.
ALLOWED_HOSTS = ['*']

INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'hello',
]

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

ROOT_URLCONF = 'server_dev.urls'

TEMPLATES = [
    {
        'BACKEND': 'django.template.backends.django.DjangoTemplates',
        'DIRS': [],
        'APP_DIRS': True,
        'OPTIONS': {
            'context_processors': [
                'django.template.context_processors.debug',
                'django.template.context_processors.request',
                'django.contrib.auth.context_processors.auth',
                'django.contrib.messages.context_processors.messages',
            ],
        },
    },
]

WSGI_APPLICATION = 'server_dev.wsgi.application'

db_kind = os.environ.get('FERRY_DEMO_DB', 'sqlite')
if db_kind == 'sqlite':
    default_db = {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': DATA_DIR / 'db.sqlite3',
    }
elif db_kind == 'mysql':
    default_db = {
        'ENGINE': 'django.db.backends.mysql',
        'NAME': os.environ.get('FERRY_DEMO_MYSQL_DB', 'server_dev'),
        'USER': os.environ.get('FERRY_DEMO_MYSQL_USER', 'root'),
        'PASSWORD': os.environ.get('FERRY_DEMO_MYSQL_PASSWORD', ''),
        # A HOST that starts with '/' is a Unix socket path for Django's MySQL backend.
        'HOST': (os.environ.get('FERRY_DEMO_MYSQL_SOCKET')
                 or os.environ.get('FERRY_DEMO_MYSQL_HOST', '')),
        'PORT': os.environ.get('FERRY_DEMO_MYSQL_PORT', ''),
        'OPTIONS': {'charset': 'utf8mb4'},
    }
else:
    raise ImproperlyConfigured(f'FERRY_DEMO_DB={db_kind!r}: expected sqlite or mysql')

DATABASES = {
    'default': {
        **default_db,
        # Each worker process (and each thread in it) keeps its own connection for up to
        # 60 s instead of reconnecting on every request. Django connects lazily, on the
        # first query in a worker, so no connection is ever shared across a fork.
        'CONN_MAX_AGE': 60,
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {'NAME': 'django.contrib.auth.password_validation.UserAttributeSimilarityValidator'},
    {'NAME': 'django.contrib.auth.password_validation.MinimumLengthValidator'},
    {'NAME': 'django.contrib.auth.password_validation.CommonPasswordValidator'},
    {'NAME': 'django.contrib.auth.password_validation.NumericPasswordValidator'},
]

LANGUAGE_CODE = 'en-us'
TIME_ZONE = 'UTC'
USE_I18N = True
USE_L10N = True
USE_TZ = True

# nginx serves /static/ from STATIC_ROOT (see conf/nginx-site.conf); Django never does
# with DEBUG off.
STATIC_URL = '/static/'
STATIC_ROOT = Path(os.environ.get('FERRY_DEMO_STATIC') or DATA_DIR / 'static')

DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'

# Everything goes to stderr, which the application server collects into its log.
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {
        'plain': {
            'format': '{asctime} {levelname} {name} pid={process}: {message}',
            'style': '{',
        },
    },
    'handlers': {
        'stderr': {
            'class': 'logging.StreamHandler',
            'stream': 'ext://sys.stderr',
            'formatter': 'plain',
        },
    },
    'root': {'handlers': ['stderr'], 'level': 'INFO'},
    'loggers': {
        # Replaces Django's default handlers (console when DEBUG, mail_admins), which would
        # print every line twice.
        'django': {'handlers': ['stderr'], 'level': 'INFO', 'propagate': False},
    },
}
