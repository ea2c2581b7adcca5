"""The Debian package, as an admin meets it.

packaging/build-deb builds the .deb once (in ferry's container image's build stage, whose
runtime stage installs the same file: tests/deploy/podman.py deb()); then:
  - lintian finds no error in it;
  - it holds what the docs promise (binary, Python package, man page, units, examples);
  - its man page lists every flag of the installed binary's --help;
  - its systemd units pass `systemd-analyze verify` where they are installed;
  - in a fresh Debian 12 root (debootstrap minbase, cached as .ci/fresh-machine caches it)
    apt installs it, the installed ferry serves the demo site as the ferry user, and
    `apt-get purge` leaves nothing behind but the ferry system user.

Run as root: /usr/bin/python3 -m pytest tests/deploy/test_deb.py -s (-s prints the time of
each step).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import podman
from fresh_root import REPO, FreshRoot

sys.path.insert(0, str(REPO / "tests" / "integration"))
from fixtures.uwsgi_client import uwsgi_get  # noqa: E402
from fixtures.waiting import wait_until  # noqa: E402

TIMINGS: list[tuple[str, float]] = []


def timed(name, fn, *args, **kw):
    start = time.monotonic()
    try:
        return fn(*args, **kw)
    finally:
        TIMINGS.append((name, time.monotonic() - start))


@pytest.fixture(scope="module", autouse=True)
def print_timings():
    yield
    print("\ntest_deb timings:")
    for name, seconds in TIMINGS:
        print(f"  {name:<58} {seconds:6.1f} s")


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    """The package, built by the project's own script, packaging/build-deb, in the build
    stage of ferry's container image: the very .deb the image installs, so one compile
    serves both (or the one FERRY_DEB names, built before by hand)."""
    if os.environ.get("FERRY_DEB"):
        return Path(os.environ["FERRY_DEB"])
    out = tmp_path_factory.mktemp("deb-out")
    path = timed("packaging/build-deb (in the image's build stage)", podman.deb, out)
    assert re.fullmatch(r"ferry_\d+\.\d+\.\d+-1_amd64\.deb", path.name), path.name
    return path


@pytest.fixture(scope="module")
def unpacked(deb, tmp_path_factory) -> Path:
    """The package's files under a temporary root (dpkg-deb -x), as dpkg would install them."""
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def meson_version() -> str:
    text = (REPO / "meson.build").read_text()
    return re.search(r"version\s*:\s*'([^']+)'", text).group(1)


def test_version_comes_from_meson(deb):
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Maintainer", "Architecture"],
                            capture_output=True, text=True, check=True).stdout
    assert f"Version: {meson_version()}-1\n" in fields
    assert "Maintainer: ferry developers <ferry@example.invalid>\n" in fields
    assert "Package: ferry\n" in fields


def test_lintian_reports_no_errors(deb):
    r = timed("lintian", subprocess.run, ["lintian", "--tag-display-limit", "0", str(deb)],
              capture_output=True, text=True, timeout=600)
    print(f"\nlintian {deb.name}:\n{r.stdout}{r.stderr}")
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    assert not errors, "lintian errors:\n" + "\n".join(errors)
    # lintian exits non-zero on errors only (and on its own failures).
    assert r.returncode == 0, r.stderr


def test_package_holds_binary_python_package_man_page_units_and_examples(deb):
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    paths = {line.split()[5].lstrip(".") for line in listing.splitlines()}
    for path in ("/usr/bin/ferry",
                 "/usr/share/ferry/python/ferry/__init__.py",
                 "/usr/share/man/man1/ferry.1.gz",
                 "/lib/systemd/system/ferry@.service",
                 "/lib/systemd/system/ferry@.socket",
                 "/usr/lib/sysusers.d/ferry.conf",
                 "/usr/lib/tmpfiles.d/ferry.conf",
                 "/etc/logrotate.d/ferry",
                 "/etc/ferry/sites/",
                 "/usr/share/doc/ferry/copyright",
                 "/usr/share/doc/ferry/examples/server_dev.ini",
                 "/usr/share/doc/ferry/examples/nginx-site.conf",
                 "/usr/share/doc/ferry/examples/sites/demo.ini",
                 "/usr/share/ferry/demo/server_dev/manage.py",
                 "/usr/share/ferry/demo/server_dev/server_dev/wsgi.py"):
        assert path in paths, f"{path} is not in the package:\n{listing}"
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True,
                             check=True).stdout
    # The embedded interpreter's library, found by dpkg-shlibdeps.
    assert "libpython3.11" in depends, depends


def test_binary_imports_python_only_from_its_installed_copy(unpacked):
    # A build-tree path in the binary would be looked at first on every machine: under
    # /var/tmp anyone could create it and have ferry import their code.
    binary = (unpacked / "usr/bin/ferry").read_bytes()
    assert b"/usr/share/ferry/python" in binary
    for tree in re.findall(rb"[\x20-\x7e]*/python/ferry", binary):
        assert tree == b"/usr/share/ferry/python/ferry", tree


def test_man_page_lists_every_flag_of_help(unpacked):
    ferry = unpacked / "usr" / "bin" / "ferry"
    help_text = subprocess.run([str(ferry), "--help"], capture_output=True, text=True, check=True).stdout
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text))
    assert len(flags) > 40, help_text
    page = subprocess.run(["man", "-l", str(unpacked / "usr/share/man/man1/ferry.1.gz")],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "MANWIDTH": "200"}).stdout
    # Some locales render an escaped hyphen as U+2010 or U+2212.
    page = page.replace("\u2010", "-").replace("\u2212", "-")
    missing = sorted(flag for flag in flags if not re.search(re.escape(flag) + r"(?![\w-])", page))
    assert not missing, f"ferry --help has flags that ferry(1) lacks: {missing}"
    assert "/etc/ferry/sites/SITE.ini" in page


# --------------------------------------------------------------------------------------
# A fresh Debian 12

# Not the package's business: apt's and dpkg's own state, caches and logs, and the mount
# points whose contents belong to the namespace of each command.
IGNORED = re.compile(r"^/(proc|sys|dev|run|tmp|mnt/host)/|^/var/(lib/dpkg|lib/apt|cache/apt|cache/debconf|"
                     r"log/apt|cache/ldconfig)/|^/var/log/(dpkg|alternatives)\.log$|^/etc/ld\.so\.cache$")
# What purge leaves on purpose: Debian keeps system users (files they own may remain
# elsewhere, and a later user given the same uid would inherit them), so the ferry user
# and group stay in the account files; systemd-sysusers keeps their previous versions in
# the "-" backups.
ACCOUNT_FILES = {"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow",
                 "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-"}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path in the root with its type, mode, owner, size and mtime."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = full[len(str(root)):]
            if IGNORED.search(rel + ("/" if name in dirnames else "")):
                continue
            st = os.lstat(full)
            files[rel] = (st.st_mode, st.st_uid, st.st_gid,
                          None if name in dirnames else st.st_size, None if name in dirnames else st.st_mtime_ns)
    return files


def account_lines(root: Path) -> dict[str, set[str]]:
    return {f: set((root / f.lstrip("/")).read_text().splitlines()) if (root / f.lstrip("/")).exists() else set()
            for f in ACCOUNT_FILES}


def ferry_pids(root: FreshRoot) -> list[int]:
    pids = []
    for pid in root.processes():
        try:
            if os.readlink(f"/proc/{pid}/exe").endswith("/usr/bin/ferry"):
                pids.append(pid)
        except OSError:
            pass
    return pids


def unit_line(root: Path, key: str) -> str:
    text = (root / "lib/systemd/system/ferry@.service").read_text()
    return re.search(rf"^{key}=(.*)$", text, re.M).group(1).replace("%i", "demo")


class Installed:
    """The fresh root with the package installed, and its files before the install."""

    def __init__(self, root: FreshRoot, before: dict, accounts_before: dict):
        self.root, self.before, self.accounts_before = root, before, accounts_before


@pytest.fixture(scope="module")
def installed(deb, fresh_root_factory) -> Installed:
    root = timed("fresh root (unpack the cached minbase tarball)", fresh_root_factory, deb.parent)
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True,
                             check=True).stdout.strip()
    # The demo's Django (a Suggests of the package) and the package's dependencies first,
    # so that the files before the install include them and purge is judged on ferry's own
    # files. apt resolves the .deb's own Depends line here, from the mirror.
    timed("apt-get update; install python3-django and the package's Depends", root.run,
          f"apt-get update -q >/dev/null\n"
          f"apt-get install -y -q --no-install-recommends python3-django >/dev/null\n"
          f"apt-get satisfy -y -q --no-install-recommends '{depends}' >/dev/null", timeout=1200)
    before = snapshot(root.path)
    accounts_before = account_lines(root.path)
    r = timed("apt-get install -y ./ferry.deb", root.run, f"apt-get install -y /mnt/host/{deb.name}")
    # Everything it needs came with the Depends above: the install adds ferry alone.
    assert "1 newly installed" in r.stdout, r.stdout
    return Installed(root, before, accounts_before)


def test_installed_ferry_says_its_version(installed):
    r = installed.root.run("ferry --version")
    assert r.stdout.startswith(f"ferry {meson_version()} (Python 3.11"), r.stdout


def systemd_verify(root: Path, *units: str) -> subprocess.CompletedProcess:
    # --root: the units, the binaries they name and the targets they need are looked up in
    # the fresh root, as installed there (the host's systemd-analyze, same version).
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", *units],
                          capture_output=True, text=True, timeout=120)


def test_systemd_units_verify_where_installed(installed):
    root = installed.root.path
    units = sorted(p.name for p in (root / "lib/systemd/system").glob("ferry@.*"))
    assert units == ["ferry@.service", "ferry@.socket"]
    # Template units are verified as an instance.
    r = systemd_verify(root, "ferry@demo.socket", "ferry@demo.service")
    assert r.returncode == 0 and not r.stderr.strip(), f"systemd-analyze verify:\n{r.stdout}{r.stderr}"
    # The same unit naming a missing binary must fail: the check reads these units and
    # these paths.
    broken = root / "etc/systemd/system/ferry-broken@.service"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text((root / "lib/systemd/system/ferry@.service").read_text()
                      .replace("/usr/bin/ferry", "/usr/bin/ferry-missing"))
    try:
        r = systemd_verify(root, "ferry-broken@demo.service")
        assert r.returncode != 0 and "ferry-missing" in r.stderr, f"verify passed a broken unit:\n{r.stderr}"
    finally:
        broken.unlink()


def test_installed_ferry_serves_the_demo_site_as_the_ferry_user(installed):
    root = installed.root
    # The admin's steps: one site, from the package's example.
    root.run("cp /usr/share/doc/ferry/examples/sites/demo.ini /etc/ferry/sites/demo.ini")
    # docs/deploying.md (section 1)'s command (systemctl only links the units in a chroot; purge
    # must remove the links with the units they point at).
    root.run("systemctl enable ferry@demo.socket ferry@demo.service")
    for link in ("sockets.target.wants/ferry@demo.socket", "multi-user.target.wants/ferry@demo.service"):
        assert (root.path / "etc/systemd/system" / link).is_symlink(), link
    # The units' own command line and user, run by hand: no systemd runs in a chroot. Boot
    # would have run systemd-tmpfiles for ferry's directories (/run is new in each command).
    exec_start = unit_line(root.path, "ExecStart")
    user, group = unit_line(root.path, "User"), unit_line(root.path, "Group")
    assert exec_start == "/usr/bin/ferry /etc/ferry/sites/demo.ini"
    server = subprocess.Popen(root.command([
        "/bin/bash", "-euc",
        f"systemd-tmpfiles --create ferry.conf\nexec setpriv --reuid={user} --regid={group} --init-groups "
        f"{exec_start}"]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        start = time.monotonic()

        def served():
            if server.poll() is not None:
                raise AssertionError(f"ferry exited with {server.returncode}:\n{server.stdout.read().decode()}")
            for pid in ferry_pids(root):
                sock = f"/proc/{pid}/root/run/ferry/demo.sock"
                try:
                    return uwsgi_get(sock, "/", timeout=5)
                except OSError:
                    return None
            return None

        response = wait_until(served, 60, interval=0.2, message="the demo on /run/ferry/demo.sock")
        TIMINGS.append(("ferry start until the demo answers", time.monotonic() - start))
        assert response.status == 200 and response.text == "Hello from ferry", response.raw
        # Every ferry process runs as the ferry user, in group www-data (nginx's).
        pids = ferry_pids(root)
        assert len(pids) >= 3, pids  # the master and processes = 2
        ferry_uid = int(root.run("id -u ferry").stdout)
        www_gid = int(root.run("getent group www-data | cut -d: -f3").stdout)
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            assert re.search(rf"^Uid:\t{ferry_uid}\t", status, re.M), status
            assert re.search(rf"^Gid:\t{www_gid}\t", status, re.M), status
        log = root.path / "var/log/ferry/demo.log"
        wait_until(lambda: log.exists() and "GET /" in log.read_text(errors="replace"), 10,
                   message=f"the request line in {log}")
        master = server.pid
        # The unit's ExecReload, as systemd runs it: $$ unescaped to $, MAINPID set. The
        # root has no procps (the package does not depend on it), so no /bin/kill.
        reload = unit_line(root.path, "ExecReload")
        assert reload == "/bin/sh -c 'kill -HUP $$MAINPID'", reload
        assert not (root.path / "bin/kill").exists()
        root.run(f"export MAINPID={master}\n{reload.replace('$$', '$')}")
        wait_until(lambda: "got SIGHUP" in log.read_text(errors="replace"), 10, message=f"the reload in {log}")
        wait_until(served, 60, interval=0.2, message="the demo after the reload")
        os.killpg(master, signal.SIGTERM)  # setpriv exec'ed ferry: the group's leader is the master
        assert server.wait(timeout=60) == 0, server.stdout.read().decode()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        root.kill_processes()
        root.run("rm -f /etc/ferry/sites/demo.ini")  # the admin's file, not the package's


def test_purge_leaves_nothing_but_the_ferry_user(installed):
    root, before = installed.root, installed.before
    timed("apt-get purge -y ferry", root.run, "apt-get purge -y ferry")
    after = snapshot(root.path)
    added = sorted(set(after) - set(before) - ACCOUNT_FILES)
    removed = sorted(set(before) - set(after) - ACCOUNT_FILES)
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p] and p not in ACCOUNT_FILES)
    assert not (added or removed or changed), f"purge left:\n added {added}\n removed {removed}\n changed {changed}"
    accounts_after = account_lines(root.path)
    for f in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"):
        extra = accounts_after[f] - installed.accounts_before[f]
        assert installed.accounts_before[f] <= accounts_after[f], f"purge removed lines of {f}"
        assert [line.split(":")[0] for line in extra] == ["ferry"], f"{f} gained {extra}"
    for f in ("/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-"):
        # A backup is either unchanged or one of the files as they were before.
        assert accounts_after[f] in (installed.accounts_before[f], installed.accounts_before[f.rstrip("-")],
                                     accounts_after[f.rstrip("-")]), f
