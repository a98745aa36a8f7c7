"""The snapshot's facts as flat records, by subject, for the rules that look past APIs: container images, nodes,
component flags and configuration files, objects, admission plugins and workloads.

Two inputs the snapshot model may carry (read when present, so the plan works before and after the snapshot
records them): ``Snapshot.component_configs`` — the kubelet's and kube-proxy's configuration by component
(``{"kubelet": {KubeletConfiguration…}, "kube-proxy": {KubeProxyConfiguration…}}``, as kubeadm keeps them in the
``kube-system/kubelet-config`` and ``kube-system/kube-proxy`` ConfigMaps), and ``Snapshot.service_account_tokens``
— the metadata of service-account token Secrets (which the snapshot's objects leave out). The same ConfigMaps
and the kube-proxy DaemonSet are also read from ``Snapshot.objects`` when they are there. ``NodeInfo`` may carry
``cgroup_version`` ("v1"/"v2").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from harness.snapshot.model import Snapshot

Record = dict[str, Any]
_RUNTIME = re.compile(r"^([a-z0-9.-]+)://v?([0-9][^\s]*)")
# kubeadm's ConfigMaps of the node components' configuration: (namespace, name) → (component, data key)
CONFIG_MAPS = {("kube-system", "kubelet-config"): ("kubelet", "kubelet"),
               ("kube-system", "kube-proxy"): ("kube-proxy", "config.conf")}


def split_image(image: str) -> Record:
    """``registry``, ``repository`` and ``tag`` of an image reference (Docker Hub when no registry is named)."""
    ref = image.split("@", 1)[0]
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", ref
    repository, _, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    return {"image": image, "registry": registry, "repository": repository, "tag": tag}


def images(snap: Snapshot) -> list[Record]:
    """Every image a workload or add-on runs, once per (image, workload)."""
    out: dict[tuple[str, str], Record] = {}
    for w in snap.workloads:
        for image in w.images:
            out.setdefault((image, f"{w.kind}/{w.namespace}/{w.name}"), {
                **split_image(image), "namespace": w.namespace, "workload": f"{w.kind}/{w.namespace}/{w.name}"})
    for a in snap.addons:
        for image in a.images:
            key = (image, a.workload or a.name)
            out.setdefault(key, {**split_image(image), "namespace": a.namespace, "workload": a.workload or a.name})
    return list(out.values())


def nodes(snap: Snapshot) -> list[Record]:
    """Nodes with their container runtime split into name and version (``containerd://1.7.2``)."""
    out = []
    for n in snap.nodes:
        record: Record = {"name": n.name, "kubelet_version": n.kubelet_version, "os_image": n.os_image}
        m = _RUNTIME.match(n.container_runtime or "")
        if m:
            record["runtime"], record["runtime_version"] = m.group(1), m.group(2)
        cgroup = getattr(n, "cgroup_version", None)
        if cgroup:
            record["cgroup_version"] = str(cgroup)
        out.append(record)
    return out


def _flag_records(component: str, args: list[str]) -> Iterator[Record]:
    for arg in args:
        if arg.startswith("-"):
            name, _, value = arg.lstrip("-").partition("=")
            yield {"component": component, "name": name, "value": value}


def kube_proxy_args(snap: Snapshot) -> list[str] | None:
    """The command line of the kube-proxy DaemonSet in kube-system, when the snapshot holds it."""
    for obj in snap.objects:
        if not isinstance(obj, dict) or obj.get("kind") != "DaemonSet":
            continue
        meta = obj.get("metadata") or {}
        if meta.get("namespace") == "kube-system" and meta.get("name") == "kube-proxy":
            containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            for c in containers:
                if isinstance(c, dict):
                    return [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    return None


def flags(snap: Snapshot) -> list[Record]:
    """Flags of the control plane (when visible) and of kube-proxy (its DaemonSet)."""
    cp = snap.control_plane
    out = [*_flag_records("kube-apiserver", cp.apiserver_args),
           *_flag_records("kube-controller-manager", cp.controller_manager_args),
           *_flag_records("kube-scheduler", cp.scheduler_args)]
    proxy = kube_proxy_args(snap)
    if proxy:
        out += list(_flag_records("kube-proxy", proxy))
    return out


def component_configs(snap: Snapshot) -> dict[str, dict[str, Any]]:
    """The kubelet's and kube-proxy's configuration documents: ``Snapshot.component_configs`` when the model has
    it, else kubeadm's ConfigMaps among the snapshot's objects."""
    out: dict[str, dict[str, Any]] = {}
    given = getattr(snap, "component_configs", None)
    if isinstance(given, Mapping):
        out.update({str(k): dict(v) for k, v in given.items() if isinstance(v, Mapping)})
    for obj in snap.objects:
        if not isinstance(obj, dict) or obj.get("kind") != "ConfigMap":
            continue
        meta = obj.get("metadata") or {}
        found = CONFIG_MAPS.get((str(meta.get("namespace")), str(meta.get("name"))))
        if found is None or found[0] in out:
            continue
        try:
            doc = yaml.safe_load(str((obj.get("data") or {}).get(found[1]) or ""))
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict):
            out[found[0]] = doc
    return out


def _leaves(doc: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and key != "featureGates":
            yield path, None  # the section itself is set
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def configs(snap: Snapshot) -> list[Record]:
    """Every field set in the node components' configuration files, as (component, path, value)."""
    return [{"component": comp, "path": path, "value": "" if value is None else str(value)}
            for comp, doc in sorted(component_configs(snap).items()) for path, value in _leaves(doc)
            if path not in ("apiVersion", "kind")]


def _labels(meta: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = meta.get(field)
    return value if isinstance(value, Mapping) else {}


def objects(snap: Snapshot) -> list[Record]:
    """The snapshot's objects, the API versions objects were last written with, and the service-account token
    Secrets when the snapshot records them."""
    out = []
    tokens = getattr(snap, "service_account_tokens", None) or []
    for obj in [*snap.objects, *(t for t in tokens if isinstance(t, dict))]:
        if not isinstance(obj, dict):
            continue
        raw = obj.get("metadata")
        meta: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        record: Record = {"apiVersion": str(obj.get("apiVersion", "")), "kind": str(obj.get("kind", "")),
                          "namespace": str(meta.get("namespace") or ""), "name": str(meta.get("name") or "")}
        if "type" in obj:
            record["type"] = str(obj["type"])
        record.update({f"labels.{k}": str(v) for k, v in _labels(meta, "labels").items()})
        record.update({f"annotations.{k}": str(v) for k, v in _labels(meta, "annotations").items()})
        out.append(record)
    for use in snap.api_usage:
        out.append({"apiVersion": use.api_version, "kind": use.kind, "namespace": use.namespace or "",
                    "name": use.name})
    return out


def admission_plugins(snap: Snapshot) -> list[Record]:
    return [{"name": p} for p in snap.control_plane.admission_plugins]


def workloads(snap: Snapshot) -> list[Record]:
    """Workloads with the labels of their namespace (from the snapshot's Namespace objects)."""
    labels: dict[str, Mapping[str, Any]] = {}
    for obj in snap.objects:
        if isinstance(obj, dict) and obj.get("kind") == "Namespace":
            meta = obj.get("metadata") or {}
            labels[str(meta.get("name"))] = _labels(meta, "labels")
    return [{"kind": w.kind, "namespace": w.namespace, "name": w.name,
             **{f"namespace_labels.{k}": str(v) for k, v in labels.get(w.namespace, {}).items()}}
            for w in snap.workloads]


SUBJECTS = {"images": images, "nodes": nodes, "flags": flags, "configs": configs, "objects": objects,
            "admission_plugins": admission_plugins, "workloads": workloads}


def describe(subject: str, r: Record) -> str:
    """One record as a finding names it."""
    if subject == "images":
        return f"{r['image']} in {r['workload']}"
    if subject == "nodes":
        runtime = f" ({r['runtime']} {r['runtime_version']})" if "runtime" in r else ""
        return f"{r['name']}{runtime}"
    if subject == "flags":
        return f"{r['component']} --{r['name']}" + (f"={r['value']}" if r["value"] else "")
    if subject == "configs":
        return f"{r['component']} configuration {r['path']}" + (f": {r['value']}" if r["value"] else "")
    if subject == "objects":
        ns = f"{r['namespace']}/" if r["namespace"] else ""
        return f"{r['kind']} {ns}{r['name']}"
    if subject == "admission_plugins":
        return f"kube-apiserver admission plugin {r['name']}"
    return f"{r['kind']} {r['namespace']}/{r['name']}"
