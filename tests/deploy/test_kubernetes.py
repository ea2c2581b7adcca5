"""packaging/kubernetes/: the manifests lint and type-check, refer to each other
consistently, and their pod runs under `podman kube play` (podman 4.3, no cluster here):
it serves the demo through the nginx sidecar, passes its probes and stops cleanly.

What podman 4.3 does with the pod, as these tests found it (docs/deploying.md (section 4)
has the whole list): a livenessProbe becomes the container's healthcheck (an httpGet
turns into `curl -f http://localhost:PORT/PATH` inside the container, so the test adds
curl to the image); readinessProbe, lifecycle.preStop and terminationGracePeriodSeconds
are ignored; the securityContext applies; `kube down` kills with a timeout of 0. So the readiness and
liveness targets are checked here as a kubelet probes them, at the pod's address, and the
pod is stopped with `podman pod stop` (the images' stop signals and timeouts) before
`kube down` removes it.

Time: about 3 s with the images built; building them (once per session, shared with the
container and compose tests, and kept between runs: podman.image) takes minutes.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import kube_manifests as km
import podman

# The integration tests' helpers (tests/integration/fixtures/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from fixtures.nginx import http_request  # noqa: E402
from fixtures.net import free_port  # noqa: E402
from fixtures.waiting import wait_until  # noqa: E402


# --- the manifests as text and as typed objects ------------------------------------------

def test_yamllint_strict():
    result = subprocess.run(["yamllint", "--strict", "-c", str(km.MANIFESTS / ".yamllint"),
                             str(km.MANIFESTS)], capture_output=True, text=True)
    assert result.returncode == 0, f"yamllint --strict {km.MANIFESTS}:\n{result.stdout}{result.stderr}"


def test_kustomization_lists_every_manifest():
    listed = {path.name for path in km.resource_files()}
    present = {path.name for path in km.MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, f"kustomization.yaml resources {sorted(listed)} != files {sorted(present)}"


def test_kustomization_renames_every_image(pod):
    """The images in deployment.yaml are placeholders: kustomization.yaml must map each."""
    kustomization = km.raw_documents(km.MANIFESTS / "kustomization.yaml")[0]
    mapped = {entry["name"] for entry in kustomization["images"] if entry.get("newName")}
    assert {c.image for c in pod.spec.containers} == mapped


@pytest.mark.parametrize("path", km.resource_files(), ids=lambda p: p.name)
def test_documents_deserialize_without_losing_a_field(path):
    for document in km.raw_documents(path):
        assert km.round_trip(document) == document, (
            f"{path.name}: {document['kind']} changes when read by python3-kubernetes: a "
            "misspelled or misplaced field (the client drops it) or a value of the wrong type")


def test_a_misspelled_field_is_caught():
    """The round trip above is what catches typos: prove it does."""
    document = km.raw_documents(km.MANIFESTS / "deployment.yaml")[0]
    document["spec"]["template"]["spec"]["terminationGracePeriod"] = 40
    assert km.round_trip(document) != document


@pytest.fixture(scope="module")
def objects():
    return km.load()


@pytest.fixture(scope="module")
def pod(objects):
    return km.only(objects, "Deployment").spec.template


def test_deployment_selects_its_own_pods(objects, pod):
    deployment = km.only(objects, "Deployment")
    selector = deployment.spec.selector.match_labels
    assert selector and selector.items() <= pod.metadata.labels.items()
    strategy = deployment.spec.strategy
    assert strategy.type == "RollingUpdate"
    assert strategy.rolling_update.max_unavailable == 0 and strategy.rolling_update.max_surge >= 1


def test_probes_ports_and_mounts_refer_to_what_exists(pod):
    volumes = {v.name: v for v in pod.spec.volumes}
    for ctr in pod.spec.containers:
        for mount in ctr.volume_mounts:
            assert mount.name in volumes, f"container {ctr.name} mounts unknown volume {mount.name}"
        for probe in (ctr.readiness_probe, ctr.liveness_probe, ctr.startup_probe):
            action = probe and (probe.http_get or probe.tcp_socket)
            if action:
                km.port_number(ctr, action.port)
    assert km.container(pod.spec, "ferry").readiness_probe.http_get.path == "/ready"
    assert km.container(pod.spec, "ferry").liveness_probe.http_get.path == "/live"


def test_config_map_volumes_name_its_keys(objects, pod):
    config_maps = {cm.metadata.name: cm for cm in objects["ConfigMap"]}
    for volume in pod.spec.volumes:
        if volume.config_map:
            assert volume.config_map.name in config_maps, f"volume {volume.name}: no such ConfigMap"
            keys = config_maps[volume.config_map.name].data
            for item in volume.config_map.items or []:
                assert item.key in keys, f"volume {volume.name}: ConfigMap has no key {item.key}"


def test_ferry_and_nginx_agree_on_socket_and_ports(objects, pod):
    config_map = km.only(objects, "ConfigMap")
    ini = km.ferry_ini(config_map)
    ferry = km.container(pod.spec, "ferry")
    nginx = km.container(pod.spec, "nginx")
    # The ini the container reads is the one in the ConfigMap.
    assert ferry.args == [km.mount_path(ferry, "config") + "/ferry.ini"]
    # One socket path, on one shared emptyDir, in both containers.
    socket = ini["socket"]
    assert km.nginx_uwsgi_socket(km.nginx_conf(config_map)) == socket
    shared = km.volume_of(ferry, socket)
    assert km.volume_of(nginx, socket) == shared
    assert next(v for v in pod.spec.volumes if v.name == shared).empty_dir is not None
    # The probes reach the stats server, and the Service reaches nginx.
    assert int(ini["stats"].rsplit(":", 1)[1]) == km.port_number(ferry, "stats")
    assert ini.getboolean("stats-http")
    assert km.nginx_listen_port(km.nginx_conf(config_map)) == km.port_number(nginx, "http")
    assert km.mount_path(nginx, "nginx-config") + "/nginx.conf" in nginx.command


def test_grace_period_covers_pause_and_drain(objects, pod):
    """The kubelet's countdown to SIGKILL includes the preStop hook: the grace period
    must outlast ferry's pause plus its worker-reload-mercy."""
    mercy = int(km.ferry_ini(km.only(objects, "ConfigMap"))["worker-reload-mercy"])
    ferry_pause = km.pre_stop_seconds(km.container(pod.spec, "ferry"))
    nginx_pause = km.pre_stop_seconds(km.container(pod.spec, "nginx"))
    grace = pod.spec.termination_grace_period_seconds
    assert grace > ferry_pause + mercy, f"terminationGracePeriodSeconds {grace} <= {ferry_pause} + {mercy}"
    # nginx stops accepting before ferry closes its socket: nothing nginx accepts finds
    # the socket gone.
    assert nginx_pause < ferry_pause


def test_service_targets_a_named_pod_port(objects, pod):
    service = km.only(objects, "Service")
    assert service.spec.selector.items() <= pod.metadata.labels.items()
    named = {p.name for c in pod.spec.containers for p in c.ports or []}
    for port in service.spec.ports:
        assert isinstance(port.target_port, str) and port.target_port in named, \
            f"Service port {port.port}: targetPort {port.target_port!r} is not a named pod port {named}"


def test_hpa_and_pdb_follow_the_deployment(objects, pod):
    deployment = km.only(objects, "Deployment")
    hpa = km.only(objects, "HorizontalPodAutoscaler")
    ref = hpa.spec.scale_target_ref
    assert (ref.api_version, ref.kind, ref.name) == ("apps/v1", "Deployment", deployment.metadata.name)
    assert hpa.spec.min_replicas >= 2 and hpa.spec.max_replicas > hpa.spec.min_replicas
    # The autoscaler owns the count: a replicas in the manifest resets it at each apply.
    assert deployment.spec.replicas is None
    # CPU utilization is a share of the requests: every container needs one.
    assert all(c.resources.requests.get("cpu") for c in pod.spec.containers)
    pdb = km.only(objects, "PodDisruptionBudget")
    assert pdb.spec.selector.match_labels.items() <= pod.metadata.labels.items()
    # A drain leaves at least one pod serving.
    assert pdb.spec.max_unavailable < hpa.spec.min_replicas


def test_pod_runs_unprivileged(pod):
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.security_context.seccomp_profile.type == "RuntimeDefault"
    for ctr in pod.spec.containers:
        sc = ctr.security_context
        assert sc.run_as_user and sc.run_as_user != 0, ctr.name
        assert sc.read_only_root_filesystem is True, ctr.name
        assert sc.allow_privilege_escalation is False, ctr.name
        assert sc.capabilities.drop == ["ALL"] and not sc.capabilities.add, ctr.name
        assert {"cpu", "memory"} <= ctr.resources.requests.keys(), ctr.name
        assert {"cpu", "memory"} <= ctr.resources.limits.keys(), ctr.name
    # The image's user (packaging/container/Containerfile), in both containers: the
    # socket's directory may belong to either (podman gives it to the first to mount it).
    users = {(c.security_context.run_as_user, c.security_context.run_as_group) for c in pod.spec.containers}
    assert users == {(10001, 10001)}


# --- the pod under `podman kube play` -----------------------------------------------------

# Unique per run: podman 4.3 turns each emptyDir and ConfigMap volume into a named volume
# of the whole host (two pods with an emptyDir "socket" share it) and keeps the
# ConfigMap's after `kube down`, so the test's copy prefixes every volume and ConfigMap.
RUN = f"ferry-kube-{os.getpid()}"
POD = f"{RUN}-pod-0"  # podman names a Deployment's pods NAME-pod-N, one per replica
FERRY_CTR, NGINX_CTR = f"{POD}-ferry", f"{POD}-nginx"
START_TIMEOUT = 60


@pytest.fixture(scope="module")
def images():
    """The ferry and nginx images, built once per session for every deployment test
    (podman.image) and kept, as the base image is. ferry's with curl added, which podman's
    httpGet probe runs (tests/deploy/curl.Containerfile)."""
    return {"ferry": podman.image(podman.FERRY_CURL_IMAGE), "nginx": podman.image(podman.NGINX_IMAGE)}


def playable(images, port):
    """The ConfigMap and the Deployment as podman gets them: our images, one replica,
    nginx's port published on 127.0.0.1:PORT only, the volumes and the ConfigMap renamed
    for this run. Nothing else changes."""
    config_map = km.raw_documents(km.MANIFESTS / "configmap.yaml")[0]
    deployment = km.raw_documents(km.MANIFESTS / "deployment.yaml")[0]
    config_map["metadata"]["name"] = f"{RUN}-config"
    deployment["metadata"]["name"] = RUN
    deployment["spec"]["replicas"] = 1
    spec = deployment["spec"]["template"]["spec"]
    for volume in spec["volumes"]:
        volume["name"] = f"{RUN}-{volume['name']}"
        if "configMap" in volume:
            volume["configMap"]["name"] = config_map["metadata"]["name"]
    for ctr in spec["containers"]:
        ctr["image"] = images[ctr["name"]]
        for mount in ctr["volumeMounts"]:
            mount["name"] = f"{RUN}-{mount['name']}"
        for ctr_port in ctr["ports"]:
            if ctr_port["name"] == "http":
                ctr_port.update(hostIP="127.0.0.1", hostPort=port)
    return [config_map, deployment]


def volume_names(documents):
    """The podman volumes the documents make: one per ConfigMap, one per emptyDir."""
    config_map, deployment = documents
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    return [config_map["metadata"]["name"]] + [v["name"] for v in volumes if "emptyDir" in v]


def inspect(name, template):
    return podman.run("inspect", name, "--format", template).stdout.strip()


def served(port):
    try:
        return http_request(port, timeout=2)
    except OSError:
        return None


@pytest.fixture(scope="module")
def played(images, tmp_path_factory):
    port = free_port()
    path = tmp_path_factory.mktemp("kube") / "pod.yaml"
    documents = playable(images, port)
    path.write_text(yaml.safe_dump_all(documents))
    try:
        started = time.monotonic()
        podman.run("kube", "play", str(path))
        wait_until(lambda: (served(port) or (0,))[0] == 200, START_TIMEOUT,
                   interval=0.5, message=f"the demo on 127.0.0.1:{port} through the pod's nginx")
        print(f"\npod serving {time.monotonic() - started:.1f} s after kube play")
        yield {"port": port, "yaml": path}
    finally:
        if podman.run("pod", "exists", POD, check=False).returncode == 0:
            print(podman.run("logs", FERRY_CTR, check=False).stdout[-3000:])
        podman.run("kube", "down", str(path), check=False)
        podman.run("pod", "rm", "-f", POD, check=False)
        # The emptyDirs go with the pod, unless a failure left it behind.
        for volume in volume_names(documents):
            podman.run("volume", "rm", "-f", volume, check=False)


def pod_address():
    """The pod's IP: its network namespace belongs to its infra container."""
    infra = podman.run("pod", "inspect", POD, "--format", "{{.InfraContainerID}}").stdout.strip()
    return inspect(infra, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


def probe(address, path, timeout=3):
    """GET http://ADDRESS:PORT/PATH as a kubelet's httpGet probe of ferry sends it; the
    status."""
    port = km.container(km.load()["Deployment"][0].spec.template.spec, "ferry").liveness_probe.http_get.port
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def proc_status(ctr):
    """/proc/1/status of the container's main process, as {field: value}."""
    text = podman.run("exec", ctr, "cat", "/proc/1/status").stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_pod_serves_the_demo_through_nginx(played):
    status, _, body = http_request(played["port"])
    assert (status, body) == (200, b"Hello from ferry")
    assert podman.run("pod", "inspect", POD, "--format", "{{.State}}").stdout.strip() == "Running"


def test_probe_targets_answer_at_the_pod_address(played):
    """Where a kubelet sends readinessProbe and livenessProbe: the pod's IP, port stats."""
    address = pod_address()
    assert address.startswith(("198.18.", "198.19.")), f"pod address {address!r} outside 198.18.0.0/15"
    assert probe(address, "/ready") == 200
    assert probe(address, "/live") == 200


def test_liveness_probe_becomes_a_passing_healthcheck(played):
    test = json.loads(inspect(FERRY_CTR, "{{json .Config.Healthcheck.Test}}"))
    assert "curl -f http://localhost:9191/live" in " ".join(test), test
    # No systemd here to run it on a timer: run it as the timer would.
    result = podman.run("healthcheck", "run", FERRY_CTR, check=False)
    assert result.returncode == 0, f"podman healthcheck run {FERRY_CTR}: {result.stdout}"
    assert inspect(FERRY_CTR, "{{.State.Health.Status}}") == "healthy"
    # A wedged master answers nothing within the probe's timeoutSeconds, so a kubelet
    # counts a failure. (podman 4.3 does not enforce that timeout: its check would hang
    # until the master resumes, then pass.)
    timeout = km.container(km.load()["Deployment"][0].spec.template.spec, "ferry") \
        .liveness_probe.timeout_seconds
    master = int(inspect(FERRY_CTR, "{{.State.Pid}}"))
    os.kill(master, signal.SIGSTOP)
    try:
        with pytest.raises(TimeoutError):
            probe(pod_address(), "/live", timeout)
    finally:
        os.kill(master, signal.SIGCONT)
    assert podman.run("healthcheck", "run", FERRY_CTR, check=False).returncode == 0
    # The other probe docs/operations.md offers, from inside the container.
    assert podman.run("exec", FERRY_CTR, "ferry", "--ping", "/run/ferry/app.sock").returncode == 0


@pytest.mark.parametrize("ctr", ["ferry", "nginx"])
def test_containers_run_unprivileged(played, ctr):
    name = f"{POD}-{ctr}"
    status = proc_status(name)
    assert status["Uid"].split()[:2] == status["Gid"].split()[:2] == ["10001"] * 2
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # filtering: the runtime's default profile
    result = podman.run("exec", name, "touch", "/etc/written", check=False)
    assert result.returncode != 0 and "Read-only file system" in result.stdout


def test_pod_stop_drains_ferry_and_kube_down_removes_it(played):
    """Last in this file: it takes the pod down. `podman kube down` alone would not do:
    podman 4.3 stops the pods with a timeout of 0 (SIGKILL right after the stop signal;
    ferry exits 137 without a word). `podman pod stop` honours each image's stop signal
    and timeout, as a kubelet does: ferry gets SIGTERM and drains, nginx gets SIGQUIT."""
    started = time.monotonic()
    podman.run("pod", "stop", POD)
    took = time.monotonic() - started
    print(f"\npod stop took {took:.1f} s")
    text = podman.run("logs", FERRY_CTR).stdout
    assert "got SIGTERM: stopping gracefully" in text and "ferry stopped" in text, text[-2000:]
    for ctr in (FERRY_CTR, NGINX_CTR):
        assert inspect(ctr, "{{.State.ExitCode}}") == "0", podman.run("logs", ctr).stdout[-2000:]
    assert took < float(inspect(FERRY_CTR, "{{.Config.StopTimeout}}"))
    podman.run("kube", "down", str(played["yaml"]))
    assert podman.run("pod", "exists", POD, check=False).returncode != 0
    assert served(played["port"]) is None
