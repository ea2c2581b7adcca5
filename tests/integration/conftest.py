"""Fixtures and helpers for ferry's integration tests.

The tests drive the real binary (env FERRY_BIN, default <repo>/build/ferry) through the
real uwsgi protocol, either with a raw client or through a real nginx. Every test
gets its own short temporary directory (Unix socket paths must stay under ~100 bytes), and
every process a test starts is killed at teardown, even when the test fails: processes are
found by a unique marker in their environment (inherited by workers and by a daemonized
ferry), by process group and by parentage.

The fixtures and helpers live in fixtures/, one module per concern: paths, waiting, logs,
net, netns (extra hosts as network namespaces), processes (tracking and temp dirs), ferry,
nginx, uwsgi_client, http_client, traffic, tls, django_project and mariadb. This file only loads
them: pytest finds the fixtures below by their names here, and test files keep importing the
helpers `from conftest import ...`.
"""

# ruff: noqa: F401 - everything here is re-exported for the test files and for pytest.
from fixtures.django_project import (ADMIN_PASSWORD, DEMO, SEED_FIXED, DjangoClient, cookie_header,
                                     cookies_from, header_value, make_venv, manage,
                                     nginx_static_location, prepare_project, seed_ini,
                                     start_seed_stack, venv_site_packages)
from fixtures.ferry import Ferry, basic_ini, ferry
from fixtures.http_client import (HttpResponse, RawHttp, chunked_body, http_ini, http_raw_get,
                                  http_request_bytes)
from fixtures.logs import REQUEST_LINE_RE, WORKER_READY_RE, read_text, ready_worker_pids, request_lines
from fixtures.mariadb import MARIADB_INSTALL_DB, MARIADBD, MariaDB, mariadb
from fixtures.net import can_connect, connect, free_port, listen_backlog, listen_queue, parse_addr
from fixtures.netns import Host, HostLab, call_in_netns, enter_netns, netns_lab
from fixtures.nginx import Nginx, http_request, nginx
from fixtures.paths import (APPS, FERRY_BIN, HERE, NGINX_BIN, REPO, START_TIMEOUT, SYSTEM_PYTHON,
                            TAG_VAR)
from fixtures.processes import (ProcessTracker, all_pids, child_pids, descendants, module_procs,
                                module_tmp, new_short_tmp_dir, pid_alive, pids_with_env_marker,
                                eventfd_counts, proc_stat, process_age, procs, stop_signal_seen,
                                tmp)
from fixtures.tls import (CURL, OPENSSL, bad_start, client_context, client_hello, pki,
                           read_tls_until_close, ssl_socket_line, start_ferry, suwsgi_nginx,
                           tls_connect, tls_ini, tls_uwsgi_get)
from fixtures.traffic import RequestLoop, ok_via_nginx, ok_via_uwsgi
from fixtures.uwsgi_client import (Response, encode_vars, nginx_vars, parse_http_response,
                                   raw_exchange, read_until_close, uwsgi_get, uwsgi_packet,
                                   uwsgi_request)
from fixtures.waiting import wait_until
