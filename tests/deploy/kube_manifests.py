"""packaging/kubernetes/ as data: every document of the kustomization, typed with Debian's
python3-kubernetes, and the pieces the tests cross-check (the ini and nginx.conf in the
ConfigMap, the pod's containers, probes and hooks)."""

import configparser
import json
import re
from pathlib import Path

import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "packaging" / "kubernetes"

# (apiVersion, kind) -> the client's model. python3-kubernetes 22 (Debian 12) predates
# autoscaling/v2 going GA; its v2beta2 model has the same fields as v2.
MODELS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2beta2HorizontalPodAutoscaler",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
}


class _Response:
    """What ApiClient.deserialize reads from an HTTP response: its body, as JSON text."""

    def __init__(self, document):
        self.data = json.dumps(document)


def resource_files():
    """The files kustomization.yaml lists, in its order."""
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    return [MANIFESTS / name for name in kustomization["resources"]]


def raw_documents(path):
    return [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc is not None]


def typed(document):
    """The document as the client's model; raises if a required field is missing or a
    value has the wrong type."""
    model = MODELS.get((document.get("apiVersion"), document.get("kind")))
    if model is None:
        raise AssertionError(f"{document.get('apiVersion')} {document.get('kind')}: no model known "
                             f"for it; add it to MODELS in {Path(__file__).name}")
    return client.ApiClient().deserialize(_Response(document), model)


def round_trip(document):
    """The document, deserialized and serialized again. The client drops keys it does
    not know, so a misspelled field shows up as a difference."""
    return client.ApiClient().sanitize_for_serialization(typed(document))


def load():
    """{kind: [typed object, ...]} over every resource file."""
    objects = {}
    for path in resource_files():
        for document in raw_documents(path):
            objects.setdefault(document["kind"], []).append(typed(document))
    return objects


def only(objects, kind):
    assert len(objects.get(kind, [])) == 1, f"expected one {kind} in {MANIFESTS}"
    return objects[kind][0]


def container(pod_spec, name):
    matches = [c for c in pod_spec.containers if c.name == name]
    assert matches, f"no container named {name} in the pod (has {[c.name for c in pod_spec.containers]})"
    return matches[0]


def ferry_ini(config_map):
    """The [uwsgi] section of the ConfigMap's ferry.ini (ferry's own comment syntax, ';'
    and '#' lines, is configparser's)."""
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    parser.read_string(config_map.data["ferry.ini"])
    return parser["uwsgi"]


def nginx_conf(config_map):
    return config_map.data["nginx.conf"]


def nginx_listen_port(text):
    ports = re.findall(r"^\s*listen\s+(?:[\d.]+:)?(\d+)", text, re.M)
    assert len(ports) == 1, f"expected one listen line in nginx.conf, found {ports}"
    return int(ports[0])


def nginx_uwsgi_socket(text):
    paths = re.findall(r"uwsgi_pass\s+unix:([^;\s]+);", text)
    assert len(paths) == 1, f"expected one uwsgi_pass unix:PATH in nginx.conf, found {paths}"
    return paths[0]


def pre_stop_seconds(ctr):
    """The pause of a preStop hook written as exec ["sleep", "N"]."""
    hook = ctr.lifecycle and ctr.lifecycle.pre_stop  # the client spells "exec" `_exec`
    assert hook and hook._exec and hook._exec.command[0] == "sleep", \
        f"container {ctr.name}: expected a preStop exec [\"sleep\", N]"
    return int(hook._exec.command[1])


def port_number(ctr, port):
    """A probe's port (a name or a number) as the container's port number."""
    if isinstance(port, int):
        assert port in [p.container_port for p in ctr.ports or []], \
            f"container {ctr.name}: port {port} is not one of its containerPorts"
        return port
    named = {p.name: p.container_port for p in ctr.ports or []}
    assert port in named, f"container {ctr.name}: no port named {port!r} (has {sorted(named)})"
    return named[port]


def mount_path(ctr, volume):
    paths = [m.mount_path for m in ctr.volume_mounts or [] if m.name == volume]
    assert len(paths) == 1, f"container {ctr.name} mounts volume {volume!r} {len(paths)} times"
    return paths[0]


def volume_of(ctr, path):
    """The volume mounted at the directory holding PATH in CTR."""
    parent = str(Path(path).parent)
    names = [m.name for m in ctr.volume_mounts or [] if m.mount_path.rstrip("/") == parent]
    assert names, f"container {ctr.name}: nothing is mounted at {parent} (for {path})"
    return names[0]
