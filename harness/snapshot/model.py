"""The snapshot file's data (``schema: rehearse/snapshot/v1``): what a cluster runs, secret-free.

Collected by :mod:`harness.snapshot._collect`, written and validated by :mod:`harness.snapshot.fileformat`,
recreated by :mod:`harness.recreate`, analysed by :mod:`harness.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "rehearse/snapshot/v1"


@dataclass
class NodeInfo:
    """A node, without its name or addresses: enough to mirror it."""

    name: str  # a stable pseudonym (node-1, node-2, …) unless the role makes it obvious
    kubelet_version: str
    kube_proxy_version: str = ""
    os_image: str = ""
    container_runtime: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    capacity: dict[str, str] = field(default_factory=dict)
    control_plane: bool = False


@dataclass
class ControlPlane:
    """Flags of the control-plane components, when the cluster shows them (kubeadm, static pods)."""

    visible: bool
    source: str = ""  # "kubeadm-config", "static-pods", or why not visible ("managed control plane: …")
    apiserver_args: list[str] = field(default_factory=list)
    controller_manager_args: list[str] = field(default_factory=list)
    scheduler_args: list[str] = field(default_factory=list)
    feature_gates: dict[str, bool] = field(default_factory=dict)
    admission_plugins: list[str] = field(default_factory=list)
    kubeadm_feature_gates: dict[str, bool] = field(default_factory=dict)  # ClusterConfiguration.featureGates


@dataclass
class Addon:
    """An add-on identified by name and version, and how it was identified."""

    name: str
    version: str
    detected_by: str  # "helm-chart", "label", "image-tag"
    namespace: str = ""
    images: list[str] = field(default_factory=list)
    workload: str = ""  # "Deployment/ingress-nginx/ingress-nginx-controller"


@dataclass
class HelmRelease:
    """The highest deployed revision of a Helm release, decoded from Helm's storage."""

    name: str
    namespace: str
    chart: str
    chart_version: str
    app_version: str
    status: str
    revision: int
    storage: str  # "secret" | "configmap"
    values: dict[str, Any] = field(default_factory=dict)  # user-supplied values, credential-like keys masked
    manifest: str = ""  # the rendered manifest Helm applied
    kube_version: str = ""  # the chart's kubeVersion constraint, "" when none
    description: str = ""


@dataclass
class CRDInfo:
    name: str
    group: str
    kind: str
    scope: str
    versions: list[dict[str, Any]] = field(default_factory=list)  # {name, served, storage, deprecated}
    stored_versions: list[str] = field(default_factory=list)


@dataclass
class WebhookInfo:
    configuration: str
    type: str  # "validating" | "mutating"
    name: str
    failure_policy: str
    timeout_seconds: int | None
    service: str = ""  # "namespace/name:port/path"
    url: str = ""
    rules: list[dict[str, Any]] = field(default_factory=list)
    admission_review_versions: list[str] = field(default_factory=list)
    side_effects: str = ""
    match_policy: str = ""


@dataclass
class WorkloadInfo:
    """What runs where: one workload and its container images (init containers included)."""

    kind: str  # Deployment, DaemonSet, StatefulSet, CronJob, Job
    namespace: str
    name: str
    images: list[str] = field(default_factory=list)
    replicas: int | None = None  # spec.replicas where the kind has it


@dataclass
class ApiUsage:
    """A group/version an object was written with, by one of its writers of record: a field manager in
    managedFields (not the control plane's, not rehearse's), the last-applied annotation, a Helm manifest. The
    object itself carries the version it was read at; :func:`written_version` picks the one it was written with."""

    api_version: str  # as written, e.g. "policy/v1beta1"
    kind: str
    namespace: str | None
    name: str
    source: str  # "managedFields" | "last-applied" | "helm-manifest"
    manager: str = ""  # the field manager that wrote it ("kubectl" for last-applied, "" when unknown)
    time: str = ""  # when that manager last wrote the object (RFC 3339, from managedFields), "" when unknown


@dataclass
class NotRecreatable:
    """Objects of a kind the snapshot holds no recreatable copy of, and why (reported as not recreated)."""

    api_version: str
    kind: str  # "*": every kind of that group/version
    count: int | None  # objects seen; None when they were not listed (an add-on's aggregated API)
    reason: str


@dataclass
class DeprecatedApiRequest:
    """A deprecated group/version/resource the API server was asked for (its ``apiserver_requested_deprecated_apis``
    gauge, read from ``/metrics``). The gauge is per API server instance and resets when that instance restarts: it
    says what was called since then, on the instance that answered, and never who called."""

    group: str  # "" for the core group
    version: str
    resource: str
    subresource: str = ""
    removed_release: str = ""  # "1.26" as the server labels it; "" when the server names no removal


@dataclass
class Snapshot:
    """One cluster, read-only and secret-free."""

    server_version: str
    nodes: list[NodeInfo] = field(default_factory=list)
    control_plane: ControlPlane = field(default_factory=lambda: ControlPlane(visible=False))
    addons: list[Addon] = field(default_factory=list)
    helm_releases: list[HelmRelease] = field(default_factory=list)
    crds: list[CRDInfo] = field(default_factory=list)
    webhooks: list[WebhookInfo] = field(default_factory=list)
    api_services: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[WorkloadInfo] = field(default_factory=list)
    api_usage: list[ApiUsage] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)  # sanitized manifests for recreation
    not_readable: list[str] = field(default_factory=list)  # "secrets (forbidden)", …
    masked: list[str] = field(default_factory=list)  # "<object>: <path> (<why>)" per value masked, never the value
    not_recreatable: list[NotRecreatable] = field(default_factory=list)  # kinds the rehearsal cannot host
    # the kubelet's and kube-proxy's configuration ({"kubelet": KubeletConfiguration, "kube-proxy": …}) from
    # kubeadm's ConfigMaps (kube-system/kubelet-config, kube-system/kube-proxy), redacted; {} when absent
    component_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # service-account token Secrets (type kubernetes.io/service-account-token): apiVersion, kind, type and
    # metadata (namespace, name, labels, the service-account annotations), never data; None when not collected
    service_account_tokens: list[dict[str, Any]] | None = None
    # deprecated APIs production still receives requests for (see DeprecatedApiRequest); None when /metrics was
    # not read (the reason is in not_readable)
    deprecated_api_requests: list[DeprecatedApiRequest] | None = None
    source: dict[str, str] = field(default_factory=dict)  # context, taken-at, rehearse version


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


# Kinds that moved out of extensions/v1beta1: an object written there is read at the new group.
_FROM_EXTENSIONS = frozenset({"apps", "networking.k8s.io", "policy"})


def same_object_group(written: str, read: str) -> bool:
    """Whether an object read at group/version ``read`` can have been written at ``written`` (same API group,
    or extensions/v1beta1 for the kinds that moved out of it)."""
    wg, rg = _group(written), _group(read)
    return wg == rg or (wg == "extensions" and rg in _FROM_EXTENSIONS)


def usage_index(usages: list[ApiUsage]) -> dict[tuple[str, str, str], list[ApiUsage]]:
    """``usages`` by the object they are about: (kind, namespace or "", name)."""
    index: dict[tuple[str, str, str], list[ApiUsage]] = {}
    for u in usages:
        index.setdefault((u.kind, u.namespace or "", u.name), []).append(u)
    return index


def written_version(uses: list[ApiUsage], read_as: str) -> str:
    """The apiVersion an object read at ``read_as`` was written with, from its ``uses`` (all about that object).

    The most recent write (by ``time``) among its writers of record in managedFields; on a tie, the one the
    last-applied annotation names if it is among them. Without managedFields, the last-applied annotation's, then
    the Helm manifest's; without any record, ``read_as``.
    """
    uses = [u for u in uses if same_object_group(u.api_version, read_as)]
    applied = sorted({u.api_version for u in uses if u.source == "last-applied"})
    writes = [u for u in uses if u.source == "managedFields"]
    if writes:
        latest = max(u.time for u in writes)
        tied = sorted({u.api_version for u in writes if u.time == latest})
        return next((v for v in tied if v in applied), tied[0])
    if applied:
        return applied[0]
    helm = sorted({u.api_version for u in uses if u.source == "helm-manifest"})
    return helm[0] if helm else read_as
