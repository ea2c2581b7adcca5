"""podman on these machines, for the deployment tests (container, compose, Kubernetes).

What ../shared/CONTAINERS.md found to work, in one place: runc rather than crun, the
cgroupfs manager, addresses only in 198.18.0.0/15, and a Debian 12 base image built
locally from Debian's mirror (no registry is reachable). Every podman and podman-compose
call goes through `run()` here, so each one sees the same settings.

Cached on purpose between runs, under $FERRY_CI_CACHE (default /var/cache/ferry-ci):
the debootstrap tarball (the same file .ci/fresh-machine makes) and the images
localhost/debian:bookworm and localhost/ferry-build-deps:bookworm, and the :test images of
ferry, nginx and MariaDB that image() builds (with their build layers, so that the next
session's build takes seconds). Everything else a test makes (containers, pods, volumes,
networks, other image tags) it removes.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fresh_root
from fresh_root import CACHE

REPO = Path(__file__).resolve().parents[2]
# The deployment tests reuse the integration tests' helpers (fixtures.net.free_port,
# fixtures.waiting.wait_until, fixtures.browser.chromium, ProcessTracker).
if str(REPO / "tests" / "integration") not in sys.path:
    sys.path.append(str(REPO / "tests" / "integration"))
BASE_IMAGE = "localhost/debian:bookworm"
CONTAINERFILE = REPO / "packaging" / "container" / "Containerfile"

DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""

CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
[network]
default_subnet = "198.18.0.0/24"
default_subnet_pools = [{"base" = "198.19.0.0/16", "size" = 24}]
"""


def env():
    """The environment for every podman call: CONTAINERS_CONF points at the settings above."""
    conf = CACHE / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        CACHE.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)
    return dict(os.environ, CONTAINERS_CONF=str(conf))


def run(*args, check=True, timeout=900, capture=True, cwd=None, extra_env=None):
    """podman ARGS (or podman-compose when args[0] is "podman-compose"); text output.
    EXTRA_ENV adds variables (compose files read their settings from there)."""
    cmd = list(args) if args[0] == "podman-compose" else ["podman", *args]
    result = subprocess.run(cmd, env=dict(env(), **(extra_env or {})), cwd=cwd, timeout=timeout, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}")
    return result


def image_exists(name):
    return run("image", "exists", name, check=False).returncode == 0


def ensure_base_image():
    """localhost/debian:bookworm: the debootstrap root, with this machine's apt sources (the
    mirror and its settings) so that apt-get inside a build reaches the same mirror, and
    Debian's policy-rc.d switch so that packages installed in a build start no service."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    tarball = fresh_root.base_tarball()
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="ferry-image.") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        subprocess.run(["tar", "-C", str(root), "-xf", str(tarball)], check=True)
        sources = list(Path("/etc/apt/sources.list.d").glob("*.sources"))
        if sources:
            (root / "etc/apt/sources.list").unlink(missing_ok=True)
            for path in sources:
                shutil.copy(path, root / "etc/apt/sources.list.d" / path.name)
        for conf in Path("/etc/apt/apt.conf.d").glob("99artifact-registry"):
            shutil.copy(conf, root / "etc/apt/apt.conf.d" / conf.name)
        # As Debian's own slim images: no package lists or downloaded .debs (apt-get update
        # fetches fresh ones), and dpkg leaves out documentation, manuals and translations
        # (copyright files stay). That halves the base, and every image on it.
        for cached in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for path in (root / cached).glob("*"):
                if path.is_file():
                    path.unlink()
        (root / "etc/dpkg/dpkg.cfg.d/slim").write_text(DPKG_SLIM)
        for bulky in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
            for path in (root / bulky).glob("*"):
                if path.is_dir() and bulky == "usr/share/doc":
                    for extra in path.iterdir():
                        if extra.name != "copyright":
                            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
                elif path.is_dir():
                    shutil.rmtree(path)
                elif path.name != "locale.alias":
                    path.unlink()
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        # Without ENV PATH, `podman kube play` finds no command at all (CONTAINERS.md).
        result = subprocess.run(
            ["podman", "import", "--change",
             "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "-", BASE_IMAGE], stdin=tar.stdout, env=env(), capture_output=True, text=True)
        tar.stdout.close()
        tar.wait()
        if result.returncode != 0:
            raise AssertionError(f"podman import failed:\n{result.stdout}{result.stderr}")
    return BASE_IMAGE


def build_image(tag, containerfile=CONTAINERFILE, context=REPO, target=None, build_args=()):
    """podman build of CONTAINERFILE with CONTEXT as its context; returns TAG."""
    ensure_base_image()
    # Docker's image format: podman's default (OCI) has no HEALTHCHECK, and drops it with
    # only a warning, so `podman healthcheck run` would find none.
    # --network host: a build's RUN steps (apt-get) would otherwise join podman's default
    # network, which Debian's package defines as 10.88.0.0/16 whatever containers.conf
    # says; these machines allow container addresses in 198.18.0.0/15 only.
    args = ["build", "--format", "docker", "--network", "host", "-t", tag, "-f", str(containerfile)]
    if target:
        args += ["--target", target]
    for arg in build_args:
        args += ["--build-arg", arg]
    run(*args, str(context), timeout=1800)
    return tag


# --- the images of the deployment tests, and compose ----------------------------------------
# Tagged :test and kept between runs on purpose, as the base image is: a rebuild with nothing
# changed takes seconds (podman's layer cache), a first build minutes. `podman rmi` them to
# start afresh.
FERRY_IMAGE = "localhost/ferry:test"
FERRY_BUILD_IMAGE = "localhost/ferry-build:test"  # the Containerfile's build stage
FERRY_RUNTIME_IMAGE = "localhost/ferry-runtime:test"  # its runtime stage: ferry without an app
FERRY_CURL_IMAGE = "localhost/ferry-curl:test"  # FERRY_IMAGE plus curl, for podman kube play
NGINX_IMAGE = "localhost/ferry-nginx:test"
MARIADB_IMAGE = "localhost/ferry-mariadb:test"
COMPOSE_DIR = REPO / "packaging" / "compose"
_built = {}


def image(tag):
    """TAG built once per test session (a module-level cache): ferry's, nginx's or MariaDB's."""
    if tag not in _built:
        recipe = {FERRY_IMAGE: (CONTAINERFILE, REPO),
                  FERRY_RUNTIME_IMAGE: (CONTAINERFILE, REPO),
                  FERRY_CURL_IMAGE: (Path(__file__).with_name("curl.Containerfile"), Path(__file__).parent),
                  NGINX_IMAGE: (CONTAINERFILE.with_name("nginx.Containerfile"), CONTAINERFILE.parent),
                  MARIADB_IMAGE: (COMPOSE_DIR / "mariadb.Containerfile", COMPOSE_DIR)}[tag]
        started = time.monotonic()
        if tag == FERRY_IMAGE:
            # The build stage first, tagged: it holds the .deb that deb() hands out, and
            # the whole image's build then reuses its layers.
            build_image(FERRY_BUILD_IMAGE, *recipe, target="build")
        if tag == FERRY_RUNTIME_IMAGE:
            # The default image's own first stage: built with it, so this takes seconds.
            image(FERRY_IMAGE)
            build_image(tag, *recipe, target="runtime")
        elif tag == FERRY_CURL_IMAGE:
            build_image(tag, *recipe, build_args=[f"IMAGE={image(FERRY_IMAGE)}"])
        else:
            build_image(tag, *recipe)
        _built[tag] = time.monotonic() - started
        print(f"built {tag} in {_built[tag]:.1f} s")
    return tag


def deb(dest):
    """The Debian package that ferry's image installs, built by packaging/build-deb in the
    Containerfile's build stage, copied to DEST; returns its path. The .deb test and the
    image test thus test one build, and a CI run compiles ferry once for both."""
    image(FERRY_IMAGE)
    name = f"ferry-deb-{os.getpid()}"
    run("create", "--name", name, FERRY_BUILD_IMAGE, "true")
    try:
        run("cp", f"{name}:/out/.", str(dest))
    finally:
        run("rm", "-f", name, check=False)
    debs = sorted(Path(dest).glob("ferry_*.deb"))
    assert len(debs) == 1, f"the build stage's /out should hold one ferry_*.deb: {debs}"
    return debs[0]


def image_size_mb(tag):
    return int(run("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()) / 1e6


def network(name):
    """A bridge network of NAME, its subnet taken from default_subnet_pools (198.19.0.0/16).
    Not podman's default network "podman": Debian's package defines it in
    /etc/cni/net.d/87-podman-bridge.conflist as 10.88.0.0/16, whatever containers.conf says."""
    run("network", "create", name)
    return name


def wait_healthy(container, timeout=120.0):
    """Runs the container's healthcheck until it passes (podman here has no systemd timers
    to run it on its own schedule); returns the seconds it took."""
    started = time.monotonic()
    while True:
        result = run("healthcheck", "run", container, check=False, timeout=60)
        if result.returncode == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            logs = run("logs", container, check=False).stdout
            raise AssertionError(f"{container} not healthy after {timeout:.0f} s: {result.stdout}\n"
                                 f"its log:\n{logs[-4000:]}")
        time.sleep(0.5)


class Compose:
    """podman-compose with a project name of its own; `down()` removes what `up()` made:
    containers, the pod, the volumes and the network (podman-compose 1.0.3's `down -v`
    leaves the network behind)."""

    def __init__(self, project, file=COMPOSE_DIR / "compose.yaml", environment=None):
        self.project, self.file, self.environment = project, Path(file), dict(environment or {})

    def __call__(self, *args, check=True, timeout=900):
        return run("podman-compose", "-p", self.project, "-f", str(self.file), *args, check=check,
                   timeout=timeout, extra_env=self.environment)

    def container(self, service):
        return f"{self.project}_{service}_1"  # podman-compose 1.0.3's naming

    def down(self):
        out = self("down", "-v", check=False).stdout
        # Whatever `down` missed (a failed `up` can leave a container it does not list).
        label = f"label=io.podman.compose.project={self.project}"
        for kind, listing in (("container", ["ps", "-aq"]), ("volume", ["volume", "ls", "-q"])):
            ids = run(*listing, "--filter", label, check=False).stdout.split()
            if ids:
                run(kind, "rm", "-f", *ids, check=False)
        run("pod", "rm", "-f", f"pod_{self.project}", check=False)
        run("network", "rm", "-f", f"{self.project}_default", check=False)
        return out


if __name__ == "__main__":
    # `sudo /usr/bin/python3 tests/deploy/podman.py`: the base image, for building the
    # images by hand where no registry is reachable (README.md, "With containers").
    print(f"{ensure_base_image()} is ready; podman settings for this machine: CONTAINERS_CONF={CACHE / 'containers.conf'}")
