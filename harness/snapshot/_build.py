"""Turn listed objects into the snapshot's facts: nodes, control-plane flags, CRDs, webhooks, API services,
workloads, and the API versions of the objects in Helm manifests.

Pure functions of what was listed; no requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from harness.snapshot._reader import ListFailed
from harness.snapshot._writers import Usage
from harness.snapshot.addons import images_of
from harness.snapshot.model import ControlPlane, CRDInfo, NodeInfo, WebhookInfo, WorkloadInfo

CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
NOT_VISIBLE = "not visible: no kubeadm-config and no static control-plane pods (managed control plane?)"


# -- API versions in Helm manifests ---------------------------------------------------------------------------

_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def record_manifest_usage(manifest: str, namespace: str, cluster_scoped: set[str], usage: set[Usage]) -> None:
    """Add the API versions of the objects in a rendered Helm ``manifest`` to ``usage``."""
    try:
        docs = list(yaml.load_all(manifest, Loader=_YAML_LOADER))
    except yaml.YAMLError:
        return
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            continue
        kind = str(doc["kind"])
        meta = doc.get("metadata") or {}
        ns = None if kind in cluster_scoped else str(meta.get("namespace") or namespace)
        usage.add((str(doc["apiVersion"]), kind, ns, str(meta.get("name", "")), "helm-manifest", "helm", ""))


# -- facts ----------------------------------------------------------------------------------------------------


_CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
# taints that reflect a node's state (not-ready, unreachable, pressure…), set and cleared by the control plane
_CONDITION_TAINTS = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")


def node_infos(items: Iterable[dict[str, Any]]) -> list[NodeInfo]:
    """Nodes under pseudonyms (control-plane-1…, node-1…), in the order of their real names."""
    out = []
    counters = {True: 0, False: 0}
    for item in sorted(items, key=lambda n: str((n.get("metadata") or {}).get("name", ""))):
        meta = item.get("metadata") or {}
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        cp = any(role in labels for role in _CONTROL_PLANE_ROLES)
        counters[cp] += 1
        pseudonym = f"{'control-plane' if cp else 'node'}-{counters[cp]}"
        if "kubernetes.io/hostname" in labels:
            labels["kubernetes.io/hostname"] = pseudonym
        status = item.get("status") or {}
        info = status.get("nodeInfo") or {}
        taints = [
            {k: str(t[k]) for k in ("key", "value", "effect") if t.get(k) is not None}
            for t in (item.get("spec") or {}).get("taints") or []
            if not str(t.get("key", "")).startswith(_CONDITION_TAINTS)
        ]
        out.append(NodeInfo(
            name=pseudonym,
            kubelet_version=str(info.get("kubeletVersion", "")),
            kube_proxy_version=str(info.get("kubeProxyVersion", "") or ""),
            os_image=str(info.get("osImage", "")),
            container_runtime=str(info.get("containerRuntimeVersion", "")),
            labels=labels,
            taints=taints,
            capacity={str(k): str(v) for k, v in (status.get("capacity") or {}).items()},
            control_plane=cp,
        ))
    return out


def _parse_gates(value: str) -> dict[str, bool]:
    gates = {}
    for part in value.split(","):
        name, _, flag = part.partition("=")
        if name.strip():
            gates[name.strip()] = flag.strip().lower() == "true"
    return gates


def _extra_args(section: Any) -> list[str]:
    """kubeadm extraArgs: a mapping (v1beta3) or a list of {name, value} (v1beta4) → ``--name=value``."""
    args = (section or {}).get("extraArgs") if isinstance(section, dict) else None
    if isinstance(args, dict):
        return [f"--{k}={v}" for k, v in sorted(args.items())]
    if isinstance(args, list):
        return [f"--{a.get('name')}={a.get('value', '')}" for a in args if isinstance(a, dict)]
    return []


def _flag_values(args: Iterable[str], flag: str) -> list[str]:
    return [a.split("=", 1)[1] for a in args if a.startswith(f"--{flag}=")]


def control_plane_flags(
    configmaps: list[dict[str, Any]], pods: list[dict[str, Any]] | ListFailed, configmaps_readable: bool
) -> ControlPlane:
    """Flags from static control-plane pods (all flags) or else the kubeadm-config ConfigMap (extra args)."""
    cp = ControlPlane(visible=False)
    sources = []
    kubeadm = next((c for c in configmaps if (c.get("metadata") or {}).get("namespace") == "kube-system"
                    and (c.get("metadata") or {}).get("name") == "kubeadm-config"), None)
    by_component: dict[str, list[str]] = {}
    if isinstance(pods, list):
        for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
            component = str(((pod.get("metadata") or {}).get("labels") or {}).get("component", ""))
            containers = (pod.get("spec") or {}).get("containers") or []
            if component in CONTROL_PLANE_COMPONENTS and component not in by_component and containers:
                c = containers[0]
                by_component[component] = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])
                                           if str(a).startswith("--")]
    if by_component:
        sources.append("static-pods")
        cp.apiserver_args = by_component.get("kube-apiserver", [])
        cp.controller_manager_args = by_component.get("kube-controller-manager", [])
        cp.scheduler_args = by_component.get("kube-scheduler", [])
    if kubeadm is not None:
        sources.append("kubeadm-config")
        try:
            config = yaml.safe_load(str((kubeadm.get("data") or {}).get("ClusterConfiguration", "")) or "{}")
        except yaml.YAMLError:
            config = {}
        config = config if isinstance(config, dict) else {}
        if not by_component:
            cp.apiserver_args = _extra_args(config.get("apiServer"))
            cp.controller_manager_args = _extra_args(config.get("controllerManager"))
            cp.scheduler_args = _extra_args(config.get("scheduler"))
        gates = config.get("featureGates") or {}
        cp.kubeadm_feature_gates = {str(k): bool(v) for k, v in gates.items()} if isinstance(gates, dict) else {}
    if not sources:
        reasons = []
        if isinstance(pods, ListFailed):
            reasons.append(f"pods in kube-system not readable ({pods.short})")
        if not configmaps_readable:
            reasons.append("configmaps not readable")
        cp.source = f"not visible: {'; '.join(reasons)}" if reasons else NOT_VISIBLE
        return cp
    cp.visible = True
    cp.source = ",".join(sources)
    for args in (cp.controller_manager_args, cp.scheduler_args, cp.apiserver_args):  # the apiserver's word last
        for value in _flag_values(args, "feature-gates"):
            cp.feature_gates.update(_parse_gates(value))
    plugins = _flag_values(cp.apiserver_args, "enable-admission-plugins")
    cp.admission_plugins = [p for p in plugins[-1].split(",") if p] if plugins else []
    return cp


def crd_info(item: dict[str, Any]) -> CRDInfo:
    spec = item.get("spec") or {}
    versions = []
    for v in spec.get("versions") or []:
        entry: dict[str, Any] = {
            "name": str(v.get("name", "")), "served": bool(v.get("served")), "storage": bool(v.get("storage")),
            "deprecated": bool(v.get("deprecated", False)),
        }
        if v.get("deprecationWarning"):
            entry["deprecation_warning"] = str(v["deprecationWarning"])
        versions.append(entry)
    return CRDInfo(
        name=str((item.get("metadata") or {}).get("name", "")),
        group=str(spec.get("group", "")),
        kind=str((spec.get("names") or {}).get("kind", "")),
        scope=str(spec.get("scope", "")),
        versions=versions,
        stored_versions=[str(v) for v in (item.get("status") or {}).get("storedVersions") or []],
    )


def webhook_infos(items: Iterable[dict[str, Any]], kind: str) -> list[WebhookInfo]:
    out = []
    for config in items:
        config_name = str((config.get("metadata") or {}).get("name", ""))
        for hook in config.get("webhooks") or []:
            client = hook.get("clientConfig") or {}
            svc = client.get("service") or {}
            service = ""
            if svc:
                service = (f"{svc.get('namespace', '')}/{svc.get('name', '')}:{svc.get('port', 443)}"
                           f"{svc.get('path', '') or ''}")
            timeout = hook.get("timeoutSeconds")
            out.append(WebhookInfo(
                configuration=config_name, type=kind, name=str(hook.get("name", "")),
                failure_policy=str(hook.get("failurePolicy", "Fail")),
                timeout_seconds=int(timeout) if isinstance(timeout, int) else None,
                service=service, url=str(client.get("url", "") or ""),
                rules=[dict(r) for r in hook.get("rules") or [] if isinstance(r, dict)],
                admission_review_versions=[str(v) for v in hook.get("admissionReviewVersions") or []],
                side_effects=str(hook.get("sideEffects", "") or ""),
                match_policy=str(hook.get("matchPolicy", "") or ""),
            ))
    return out


def api_service_info(item: dict[str, Any]) -> dict[str, Any]:
    spec = item.get("spec") or {}
    svc = spec.get("service") or {}
    return {
        "name": str((item.get("metadata") or {}).get("name", "")),
        "group": str(spec.get("group", "") or ""),
        "version": str(spec.get("version", "") or ""),
        "service": f"{svc.get('namespace', '')}/{svc.get('name', '')}:{svc.get('port', 443)}" if svc else "",
        "local": not svc,
    }


def workload_info(obj: dict[str, Any]) -> WorkloadInfo:
    meta = obj.get("metadata") or {}
    replicas = (obj.get("spec") or {}).get("replicas")
    return WorkloadInfo(
        kind=str(obj.get("kind", "")), namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
        images=images_of(obj), replicas=replicas if isinstance(replicas, int) else None,
    )
