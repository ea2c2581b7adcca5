"""Imports a package that exists only in the test's virtualenv."""

import sys

import ferry_venv_probe  # installed by the test into the venv's site-packages only


def application(environ, start_response):
    body = f"{ferry_venv_probe.VALUE} prefix={sys.prefix}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
