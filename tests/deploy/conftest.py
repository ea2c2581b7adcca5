"""Fixtures shared by the deployment tests (tests/deploy/).

Helpers live in modules of their own (fresh_root.py) and are imported by name there: the
integration tests' conftest is also imported as "conftest", so `from conftest import`
would be ambiguous in a session that runs both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fresh_root import FreshRoot


@pytest.fixture(scope="module")
def fresh_root_factory():
    """Makes FreshRoots for a module and removes every one at its end, even on failure."""
    if os.geteuid() != 0:
        pytest.fail("the deployment tests need root (debootstrap, chroot, mounts): run them with sudo")
    roots = []

    def make(host_dir: Path | None = None) -> FreshRoot:
        root = FreshRoot(host_dir)
        roots.append(root)
        return root

    yield make
    for root in roots:
        root.close()
