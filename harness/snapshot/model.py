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
    """The group/version an object was last written with (managedFields, last-applied annotation)."""

    api_version: str  # as written, e.g. "policy/v1beta1"
    kind: str
    namespace: str | None
    name: str
    source: str  # "managedFields" | "last-applied" | "helm-manifest"


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
    source: dict[str, str] = field(default_factory=dict)  # context, taken-at, rehearse version
