"""A fresh Debian 12 root for the deployment tests (tests/deploy/).

A root is made from the same cached tarball as .ci/fresh-machine
(${FERRY_CI_CACHE:-/var/cache/ferry-ci}/bookworm-minbase.tar: debootstrap --variant=minbase
bookworm from the host's apt mirror), so CI bootstraps once. Each command runs chrooted in
a mount namespace of its own (unshare -m) with /proc, /sys, /dev, a fresh /run and /tmp
and the host's apt archive cache mounted, as fresh-machine's in_root does: its mounts
vanish with it. Needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("FERRY_CI_CACHE", "/var/cache/ferry-ci"))
BASE_TAR = CACHE / "bookworm-minbase.tar"
# The downloaded .debs, kept between runs; not .ci/fresh-machine's apt-archives: CI runs
# the two at once, and apt in one root would find the other's lock on a shared directory.
APT_ARCHIVES = CACHE / "apt-archives-deploy"
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def apt_mirror() -> str:
    """The host's Debian mirror, found as .ci/fresh-machine finds it."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            if line.startswith("deb "):
                return line.split()[1]
    return "http://deb.debian.org/debian"


def base_tarball() -> Path:
    """The cached minbase tarball, made first if missing (a few minutes, once)."""
    if BASE_TAR.exists() and BASE_TAR.stat().st_size > 0:
        return BASE_TAR
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing: apt-get install debootstrap (.ci/install-deps does)")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ferry-base.", dir="/var/tmp"))
    try:
        base = work / "base"
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(base), apt_mirror()],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"debootstrap failed ({r.returncode}):\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        partial = BASE_TAR.with_name(BASE_TAR.name + ".partial")
        subprocess.run(["tar", "-C", str(base), "-cf", str(partial), "."], check=True)
        partial.rename(BASE_TAR)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BASE_TAR


# The body of every command in the root: fresh-machine's in_root mounts, then chroot with
# a clean environment. $1 is the root, $2 the apt archive cache, $3 a host directory
# mounted read-only at /mnt/host (or ""), the rest the command.
_IN_ROOT = r"""
root=$1 archives=$2 host_dir=$3; shift 3
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount --bind "$archives" "$root/var/cache/apt/archives"
if [ -n "$host_dir" ]; then
  mount --bind "$host_dir" "$root/mnt/host"
  mount -o remount,bind,ro "$root/mnt/host"
fi
exec chroot "$root" /usr/bin/env -i PATH=%s HOME=/root LANG=C.UTF-8 TERM=dumb \
  DEBIAN_FRONTEND=noninteractive "$@"
""" % ROOT_PATH


class FreshRoot:
    """A Debian 12 root unpacked from the cached minbase tarball, with the host's network
    settings; commands run in it through run(). Call close() to kill what still runs in
    it and remove it."""

    def __init__(self, host_dir: Path | None = None):
        self.work = Path(tempfile.mkdtemp(prefix="ferry-deploy.", dir="/var/tmp"))
        self.path = self.work / "root"
        self.host_dir = host_dir
        APT_ARCHIVES.joinpath("partial").mkdir(parents=True, exist_ok=True)
        tarball = base_tarball()
        self.path.mkdir()
        subprocess.run(["tar", "-C", str(self.path), "-xf", str(tarball)], check=True)
        etc = self.path / "etc"
        # The machine's network settings, not its packages (as fresh-machine copies them).
        (etc / "apt" / "sources.list").unlink(missing_ok=True)
        copied = False
        for sources in Path("/etc/apt/sources.list.d").glob("*.sources"):
            shutil.copy(sources, etc / "apt" / "sources.list.d" / sources.name)
            copied = True
        if not copied:
            (etc / "apt" / "sources.list").write_text(f"deb {apt_mirror()} bookworm main\n")
        registry = Path("/etc/apt/apt.conf.d/99artifact-registry")
        if registry.exists():
            shutil.copy(registry, etc / "apt" / "apt.conf.d" / registry.name)
        for name in ("resolv.conf", "hosts"):
            shutil.copy(Path("/etc") / name, etc / name)
        # No init in a chroot: packages must not start services (Debian's own switch).
        policy = self.path / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        (self.path / "mnt" / "host").mkdir(parents=True, exist_ok=True)

    def run(self, script: str, timeout: float = 600, check: bool = True, **popen) -> subprocess.CompletedProcess:
        """Runs a bash script in the root (its own mount namespace); its output is
        returned, and a failure raises with it unless check is false."""
        cmd = self.command(["/bin/bash", "-euo", "pipefail", "-c", script])
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **popen)
        if check and r.returncode != 0:
            raise AssertionError(f"in the root, exit {r.returncode}:\n{script}\n--- stdout:\n"
                                 f"{r.stdout[-4000:]}\n--- stderr:\n{r.stderr[-4000:]}")
        return r

    def command(self, argv: list[str]) -> list[str]:
        """argv as a host command that runs it chrooted in the root, for Popen."""
        return ["unshare", "--mount", "--propagation", "private", "--", "bash", "-euc", _IN_ROOT, "in_root",
                str(self.path), str(APT_ARCHIVES), str(self.host_dir or ""), *argv]

    def processes(self) -> list[int]:
        """The pids whose root directory is this root."""
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if os.readlink(proc / "root") == str(self.path):
                        pids.append(int(proc.name))
                except OSError:
                    pass
        return pids

    def kill_processes(self) -> None:
        """Whatever still runs inside: it would keep the root's files busy."""
        for pid in self.processes():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.kill_processes()
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        subprocess.run(["rm", "-rf", "--one-file-system", str(self.work)], check=False)
