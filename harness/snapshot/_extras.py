"""Facts a snapshot reads beside the objects it recreates: the node components' configuration (kubeadm's
ConfigMaps), the metadata of service-account token Secrets, and the deprecated APIs the API server was asked for.

* ``kube-system/kubelet-config`` (key ``kubelet``) and ``kube-system/kube-proxy`` (key ``config.conf``) are where
  kubeadm keeps the KubeletConfiguration and KubeProxyConfiguration. They are read from the ConfigMap list the
  snapshot takes anyway (never through ``nodes/proxy``: a GET there reaches the kubelet, and on some paths opens an
  exec stream), parsed, and redacted as Helm values are (by key name and shape).
* Token Secrets keep apiVersion, kind, type and metadata (namespace, name, labels such as
  ``kubernetes.io/legacy-token-last-used``, the ``kubernetes.io/service-account.*`` annotations, creation time);
  never their data.
* ``apiserver_requested_deprecated_apis`` from ``/metrics`` (Prometheus text): one series per deprecated
  group/version/resource/subresource requested since that API server instance started.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from harness.snapshot._redact_places import NORMAL, Redactor
from harness.snapshot.model import DeprecatedApiRequest

# (namespace, name) → (component, data key): kubeadm's ConfigMaps of the node components' configuration
COMPONENT_CONFIG_MAPS = {("kube-system", "kubelet-config"): ("kubelet", "kubelet"),
                         ("kube-system", "kube-proxy"): ("kube-proxy", "config.conf")}
TOKEN_TYPE = "kubernetes.io/service-account-token"
_TOKEN_ANNOTATIONS = ("kubernetes.io/service-account.name", "kubernetes.io/service-account.uid")
METRIC = "apiserver_requested_deprecated_apis"
_SERIES = re.compile(METRIC + r"\{([^}]*)\}\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def component_configs(configmaps: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The kubelet's and kube-proxy's configuration documents found in ``configmaps``, redacted; a document that
    is not a YAML mapping is left out."""
    out: dict[str, dict[str, Any]] = {}
    for cm in configmaps:
        meta = cm.get("metadata") or {}
        found = COMPONENT_CONFIG_MAPS.get((str(meta.get("namespace")), str(meta.get("name"))))
        if found is None:
            continue
        component, key = found
        text = (cm.get("data") or {}).get(key)
        if not isinstance(text, str):
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict):
            where = f"ConfigMap {meta.get('namespace')}/{meta.get('name')}"
            out[component] = Redactor(where).walk(doc, f"data[{key}]", NORMAL, "")
    return out


def token_secrets(secrets: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Service-account token Secrets as metadata and type only."""
    out = []
    for s in secrets:
        if s.get("type") != TOKEN_TYPE:
            continue
        meta = s.get("metadata") or {}
        kept: dict[str, Any] = {"name": str(meta.get("name", ""))}
        if meta.get("namespace"):
            kept["namespace"] = str(meta["namespace"])
        if meta.get("creationTimestamp"):
            kept["creationTimestamp"] = str(meta["creationTimestamp"])
        labels = meta.get("labels")
        if isinstance(labels, dict) and labels:
            kept["labels"] = {str(k): str(v) for k, v in labels.items()}
        annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items() if k in _TOKEN_ANNOTATIONS}
        if annotations:
            kept["annotations"] = annotations
        out.append({"apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE, "metadata": kept})
    return out


def deprecated_requests(metrics: str) -> list[DeprecatedApiRequest]:
    """The series of ``apiserver_requested_deprecated_apis`` in a ``/metrics`` text whose value is not 0."""
    out: dict[tuple[str, str, str, str], DeprecatedApiRequest] = {}
    start = metrics.find(METRIC + "{")
    if start < 0:
        return []
    for m in _SERIES.finditer(metrics, start):
        try:
            if float(m.group(2)) == 0:
                continue
        except ValueError:
            continue
        labels = dict(_LABEL.findall(m.group(1)))
        req = DeprecatedApiRequest(group=labels.get("group", ""), version=labels.get("version", ""),
                                   resource=labels.get("resource", ""), subresource=labels.get("subresource", ""),
                                   removed_release=labels.get("removed_release", ""))
        out[(req.group, req.version, req.resource, req.subresource)] = req
    return sorted(out.values(), key=lambda r: (r.group, r.version, r.resource, r.subresource))
