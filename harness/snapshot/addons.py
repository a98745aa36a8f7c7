"""Identify add-ons (CoreDNS, CNI, ingress controllers, cert-manager…) by Helm chart, labels and image tags.

The knowledge of names, labels and images is data: ``harness/data/addon_patterns.yaml``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from harness.snapshot.model import Addon, HelmRelease

WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "CronJob", "Job")
_NAME_LABELS = ("app.kubernetes.io/name", "k8s-app", "app")
_HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
_HELM_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"


@dataclass(frozen=True)
class Pattern:
    name: str
    charts: frozenset[str]
    labels: frozenset[str]
    images: tuple[re.Pattern[str], ...]


@functools.cache
def patterns() -> tuple[Pattern, ...]:
    """The bundled add-on patterns."""
    text = resources.files("harness.data").joinpath("addon_patterns.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return tuple(
        Pattern(
            name=str(entry["name"]),
            charts=frozenset(str(c) for c in entry.get("charts") or ()),
            labels=frozenset(str(v) for v in entry.get("labels") or ()),
            images=tuple(re.compile(str(rx)) for rx in entry.get("images") or ()),
        )
        for entry in data.get("addons") or ()
    )


def split_image(image: str) -> tuple[str, str]:
    """``registry/path/name:tag@sha256:…`` → (``registry/path/name``, ``tag``); tag "" when there is none."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, ""


def pod_template_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec a workload runs (CronJobs through their job template)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    pod: dict[str, Any] = (spec.get("template") or {}).get("spec") or {}
    return pod


def images_of(obj: dict[str, Any]) -> list[str]:
    """Container images of a workload, init containers first, in spec order, without repeats."""
    pod = pod_template_spec(obj)
    seen: list[str] = []
    for group in ("initContainers", "containers"):
        for c in pod.get(group) or []:
            image = str(c.get("image", "")) if isinstance(c, dict) else ""
            if image and image not in seen:
                seen.append(image)
    return seen


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels = dict((obj.get("metadata") or {}).get("labels") or {})
    spec = obj.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    for k, v in template_labels.items():
        labels.setdefault(k, v)
    return {str(k): str(v) for k, v in labels.items()}


@functools.lru_cache(maxsize=4096)
def _image_pattern(repository: str) -> int | None:
    """Index of the first pattern whose images match ``repository``."""
    for i, p in enumerate(patterns()):
        if any(rx.search(repository) for rx in p.images):
            return i
    return None


@functools.cache
def _label_index() -> dict[str, int]:
    index: dict[str, int] = {}
    for i, p in enumerate(patterns()):
        for value in p.labels:
            index.setdefault(value, i)
    return index


def _match(obj: dict[str, Any]) -> tuple[Pattern, str, str] | None:
    """(pattern, version, how the version was found) for a workload that is a known add-on, else ``None``."""
    labels = _labels(obj)
    images = images_of(obj)
    by_image = {img: _image_pattern(split_image(img)[0]) for img in images}
    hits = {i for i in by_image.values() if i is not None}
    hits.update(i for key in _NAME_LABELS if (i := _label_index().get(labels.get(key, ""))) is not None)
    if not hits:
        return None
    first = min(hits)  # the pattern listed first in addon_patterns.yaml wins
    matching = [img for img, i in by_image.items() if i == first]
    version = labels.get("app.kubernetes.io/version", "")
    if version:
        return patterns()[first], version, "label"
    tag = next((t for t in (split_image(img)[1] for img in matching or images) if t), "")
    return patterns()[first], tag, "image-tag" if tag else "label"


def _ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def _helm_release_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    name = annotations.get(_HELM_RELEASE_ANNOTATION)
    if not name:
        return None
    return str(annotations.get(_HELM_NAMESPACE_ANNOTATION) or meta.get("namespace", "")), str(name)


def identify(releases: Iterable[HelmRelease], workloads: Iterable[dict[str, Any]]) -> list[Addon]:
    """Add-ons from Helm releases (always) and from workloads that match a known pattern."""
    by_chart = {chart: p for p in patterns() for chart in p.charts}
    addons: dict[tuple[str, str], Addon] = {}
    helm_addon: dict[tuple[str, str], Addon] = {}
    for rel in sorted(releases, key=lambda r: (r.namespace, r.name)):
        p = by_chart.get(rel.chart)
        addon = Addon(
            name=p.name if p else rel.chart, version=rel.app_version or rel.chart_version,
            detected_by="helm-chart", namespace=rel.namespace,
        )
        helm_addon[(rel.namespace, rel.name)] = addon
        addons.setdefault((addon.name, f"{rel.namespace}/{rel.name}"), addon)
    for obj in sorted((w for w in workloads if w.get("kind") in WORKLOAD_KINDS), key=_ref):
        release = _helm_release_of(obj)
        images = images_of(obj)
        if release is not None and release in helm_addon:
            owner = helm_addon[release]
            owner.images.extend(i for i in images if i not in owner.images)
            owner.workload = owner.workload or _ref(obj)
            continue
        found = _match(obj)
        if found is None:
            continue
        p, version, how = found
        ns = str((obj.get("metadata") or {}).get("namespace", ""))
        addon = addons.setdefault((p.name, ns), Addon(name=p.name, version=version, detected_by=how, namespace=ns))
        if not addon.version and version:
            addon.version, addon.detected_by = version, how
        addon.images.extend(i for i in images if i not in addon.images)
        addon.workload = addon.workload or _ref(obj)
    return sorted(addons.values(), key=lambda a: (a.name, a.namespace, a.workload))
