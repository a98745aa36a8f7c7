"""Read a live cluster into a :class:`Snapshot`: which resource types are listed and what is made of them.

The lists are read by :mod:`._reader` (discovery and paged ``list`` calls only, never a write), each prepared as it
arrives: facts first (:mod:`._build`), then sanitized for recreation (:mod:`._sanitize`); Helm storage is read by
:mod:`._helm`; custom resources follow the CRDs listed. A type the identity may not list (HTTP 403) becomes a
``not_readable`` entry and the rest goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass, field
from typing import Any

from harness import __version__
from harness.errors import InfraError
from harness.progress import Progress
from harness.snapshot._build import (
    CONTROL_PLANE_COMPONENTS,
    Usage,
    api_service_info,
    control_plane_flags,
    crd_info,
    node_infos,
    record_manifest_usage,
    record_usage,
    webhook_infos,
    workload_info,
)
from harness.snapshot._helm import HelmStorage
from harness.snapshot._reader import JSON, Handle, ListFailed, Lists, Reader, Result, rejected_credentials
from harness.snapshot._sanitize import HELM_SECRET_TYPE, OWNED, redact, sanitize, skip_reason
from harness.snapshot.addons import WORKLOAD_KINDS, identify
from harness.snapshot.model import ApiUsage, HelmRelease, Snapshot

WORKERS = 4


@dataclass(frozen=True)
class ResourceType:
    """A collection to list: candidate group/versions in order of preference (the first one served wins)."""

    resource: str
    kind: str
    versions: tuple[str, ...]
    recreate: bool = True
    query: tuple[tuple[str, str], ...] = ()


RBAC = ("rbac.authorization.k8s.io/v1",)
ADMISSION = ("admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1beta1")
TYPES: tuple[ResourceType, ...] = (
    ResourceType("namespaces", "Namespace", ("v1",)),
    ResourceType("nodes", "Node", ("v1",), recreate=False),
    ResourceType("customresourcedefinitions", "CustomResourceDefinition",
                 ("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1")),
    ResourceType("clusterroles", "ClusterRole", RBAC),
    ResourceType("clusterrolebindings", "ClusterRoleBinding", RBAC),
    ResourceType("roles", "Role", RBAC),
    ResourceType("rolebindings", "RoleBinding", RBAC),
    ResourceType("serviceaccounts", "ServiceAccount", ("v1",)),
    ResourceType("configmaps", "ConfigMap", ("v1",)),  # Helm's ConfigMap storage comes along (see HelmStorage)
    ResourceType("secrets", "Secret", ("v1",), query=(("fieldSelector", f"type!={HELM_SECRET_TYPE}"),)),
    ResourceType("services", "Service", ("v1",)),
    ResourceType("deployments", "Deployment", ("apps/v1",)),
    ResourceType("daemonsets", "DaemonSet", ("apps/v1",)),
    ResourceType("statefulsets", "StatefulSet", ("apps/v1",)),
    ResourceType("cronjobs", "CronJob", ("batch/v1", "batch/v1beta1")),
    ResourceType("jobs", "Job", ("batch/v1",)),
    ResourceType("poddisruptionbudgets", "PodDisruptionBudget", ("policy/v1", "policy/v1beta1")),
    ResourceType("horizontalpodautoscalers", "HorizontalPodAutoscaler",
                 ("autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1")),
    ResourceType("ingresses", "Ingress", ("networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1")),
    ResourceType("ingressclasses", "IngressClass", ("networking.k8s.io/v1", "networking.k8s.io/v1beta1")),
    ResourceType("networkpolicies", "NetworkPolicy", ("networking.k8s.io/v1",)),
    ResourceType("priorityclasses", "PriorityClass", ("scheduling.k8s.io/v1", "scheduling.k8s.io/v1beta1")),
    ResourceType("storageclasses", "StorageClass", ("storage.k8s.io/v1", "storage.k8s.io/v1beta1")),
    ResourceType("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", ADMISSION),
    ResourceType("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", ADMISSION),
    ResourceType("apiservices", "APIService", ("apiregistration.k8s.io/v1", "apiregistration.k8s.io/v1beta1")),
)
LARGE_FIRST = frozenset({"configmaps", "secrets", "deployments", "services", "serviceaccounts"})
CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "PriorityClass", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "APIService", "PodSecurityPolicy", "FlowSchema",
    "PriorityLevelConfiguration", "CertificateSigningRequest", "ComponentStatus",
})


def _path(group_version: str, resource: str) -> str:
    return f"/api/{group_version}/{resource}" if "/" not in group_version else f"/apis/{group_version}/{resource}"


@dataclass
class _Listing:
    """One resource type: as listed (``raw``), sanitized for recreation (``objects``), and what it tells."""

    rtype: ResourceType
    group_version: str
    raw: list[dict[str, Any]] = field(default_factory=list)  # recreated ones are sanitized in place
    objects: list[dict[str, Any]] = field(default_factory=list)
    usage: set[Usage] = field(default_factory=set)
    facts: list[Any] = field(default_factory=list)

    def __len__(self) -> int:  # what the progress line counts
        return len(self.raw)


def _prepare(rtype: ResourceType, gv: str, items: list[dict[str, Any]]) -> _Listing:
    """Facts first (they need status), then redact and sanitize what is recreated."""
    listing = _Listing(rtype, gv, raw=items)
    for item in items:
        item["apiVersion"], item["kind"] = gv, rtype.kind
    if rtype.resource == "customresourcedefinitions":
        listing.facts = [crd_info(i) for i in items]
    elif rtype.resource.endswith("webhookconfigurations"):
        listing.facts = webhook_infos(items, rtype.resource.removesuffix("webhookconfigurations"))
    elif rtype.resource == "apiservices":
        listing.facts = [api_service_info(i) for i in items]
    if rtype.recreate:
        listing.objects = _recreated(items, gv, rtype.kind, listing.usage)
    return listing


def _recreated(items: list[dict[str, Any]], gv: str, kind: str, usage: set[Usage]) -> list[dict[str, Any]]:
    """The ``items`` to recreate, redacted and sanitized; the API versions they were written with go to ``usage``
    (and those of owned items, not recreated, but their writer's API version matters)."""
    objects = []
    for item in items:
        reason = skip_reason(item)
        if reason is None or reason.startswith(OWNED):
            record_usage(item, usage)
        if reason is None:
            redact(item)
            objects.append(sanitize(item, gv, kind))
    return objects


def _discover(reader: Reader) -> dict[str, list[str]]:
    """resource → the served group/versions to list it with, preferred first (one GET of ``/apis``).

    A served group/version may still lack the resource (batch/v1 before CronJobs moved there): listing it answers
    404 and the next candidate is tried.
    """
    try:
        groups = reader.get("/apis").get("groups") or []
    except ListFailed as e:
        raise InfraError(f"API discovery failed at {reader.server}: {e.short}: {e.reason}") from None
    served = {"v1"} | {str(v.get("groupVersion")) for g in groups for v in g.get("versions") or []}
    candidates = {t.resource: [gv for gv in t.versions if gv in served] for t in TYPES}
    return {resource: gvs for resource, gvs in candidates.items() if gvs}


def take(
    api_client: Any, progress: Progress, source: dict[str, str] | None = None, server: str = ""
) -> Snapshot:
    """Collect a snapshot through ``api_client`` (read-only)."""
    reader = Reader(api_client, server)
    try:
        version = reader.get("/version")
    except ListFailed as e:
        if e.status == 401:
            raise rejected_credentials(reader.server) from None
        raise InfraError(f"the cluster at {reader.server} answered /version with {e.short}: {e.reason}") from None
    server_version = str(version.get("gitVersion", ""))
    progress.step(f"Reading the cluster at {reader.server} (Kubernetes {server_version})")
    pool = cf.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="snapshot")
    try:
        snapshot = _Collector(Lists(reader, pool, progress)).run(server_version, source or {})
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # do not wait for lists in flight (Ctrl-C, errors)
        raise
    pool.shutdown()
    return snapshot


class _Collector:
    """What is listed and what is made of it; the lists themselves are read by :class:`Lists`."""

    def __init__(self, lists: Lists) -> None:
        self.lists = lists
        self.listings: dict[str, _Listing] = {}
        self.failed: dict[str, ListFailed] = {}
        self.cluster_scoped: set[str] = set(CLUSTER_SCOPED_KINDS)
        self.custom_resources: set[Usage] = set()
        self.custom_objects: list[dict[str, Any]] = []
        self.control_plane_pods: list[dict[str, Any]] | ListFailed = []

    def _submit_type(self, rtype: ResourceType, versions: list[str], handle: Handle) -> None:
        """List ``rtype`` with the first of ``versions`` that serves it (404: try the next)."""
        paths = {_path(gv, rtype.resource): gv for gv in versions}

        def prepare(path: str, items: list[dict[str, Any]]) -> _Listing:
            return _prepare(rtype, paths[path], items)

        self.lists.submit(rtype.resource, list(paths), rtype.query, JSON, handle, prepare)

    def run(self, server_version: str, source: dict[str, str]) -> Snapshot:
        candidates = _discover(self.lists.reader)
        helm = HelmStorage(self.lists)

        def handler(rtype: ResourceType) -> Handle:
            def handle(result: Result) -> None:
                if isinstance(result, ListFailed):
                    self.failed[rtype.resource] = result
                    if result.status != 404:
                        self.lists.unreadable(rtype.resource, result)
                    return
                self.listings[rtype.resource] = result
                if rtype.resource == "customresourcedefinitions":
                    self._submit_custom_resources(result.raw)
            return handle

        self.lists.progress.update(f"listing {len(candidates)} resource types")
        for t in sorted(TYPES, key=lambda t: t.resource not in LARGE_FIRST):  # the long lists start first
            if t.resource in candidates:
                self._submit_type(t, candidates[t.resource], handler(t))
        self._submit_control_plane_pods()
        helm.submit()
        self.lists.drain()
        self.lists.progress.update("assembling the snapshot")
        configmaps = self.failed["configmaps"] if "configmaps" in self.failed else self._listing("configmaps").raw
        releases = helm.releases(configmaps)
        return self._assemble(server_version, source, releases, helm.manifests)

    # -- custom resources (for the API versions objects were written with) -----------------------------------

    def _submit_custom_resources(self, crds: list[dict[str, Any]]) -> None:
        for crd in crds:
            spec = crd.get("spec") or {}
            names = spec.get("names") or {}
            served = [v for v in spec.get("versions") or [] if v.get("served")]
            if not served and spec.get("version"):  # apiextensions v1beta1 shape
                served = [{"name": spec["version"], "storage": True}]
            if not served:
                continue
            ver = next((v for v in served if v.get("storage")), served[0])
            group = str(spec.get("group", ""))
            gv = f"{group}/{ver.get('name')}"
            kind, plural = str(names.get("kind", "")), str(names.get("plural", ""))
            if (spec.get("scope") or "Namespaced") == "Cluster":
                self.cluster_scoped.add(kind)

            def prepare(_path_listed: str, items: list[dict[str, Any]], kind: str = kind,
                        gv: str = gv) -> tuple[set[Usage], list[dict[str, Any]]]:
                # Custom resources are what add-ons are configured with (Certificates, Issuers, an operator's
                # objects): kept for recreation like built-in objects, sanitized and redacted the same way.
                usage: set[Usage] = set()
                for item in items:
                    item["apiVersion"], item["kind"] = gv, kind
                return usage, _recreated(items, gv, kind, usage)

            def handle(result: Result, what: str = f"{plural}.{group}") -> None:
                if isinstance(result, ListFailed):
                    if result.status != 404:
                        self.lists.unreadable(what, result)
                    return
                usage, objects = result
                self.custom_resources |= usage
                self.custom_objects.extend(objects)

            self.lists.submit(f"{plural}.{group}", [_path(gv, plural)], (), JSON, handle, prepare)

    # -- control plane ---------------------------------------------------------------------------------------

    def _submit_control_plane_pods(self) -> None:
        selector = f"component in ({','.join(CONTROL_PLANE_COMPONENTS)})"

        def handle(result: Result) -> None:
            self.control_plane_pods = result

        self.lists.submit("control-plane pods", ["/api/v1/namespaces/kube-system/pods"],
                          (("labelSelector", selector),), JSON, handle)

    # -- assembling ------------------------------------------------------------------------------------------

    def _listing(self, resource: str) -> _Listing:
        listing = self.listings.get(resource)
        return listing if listing is not None else _Listing(ResourceType(resource, "", ()), "")

    def _assemble(
        self, server_version: str, source: dict[str, str], releases: list[HelmRelease],
        manifests: list[tuple[str, str]],
    ) -> Snapshot:
        snap = Snapshot(server_version=server_version, source=dict(source))
        snap.source.setdefault("rehearse-version", __version__)
        usage: set[Usage] = set(self.custom_resources)
        for listing in self.listings.values():
            snap.objects.extend(listing.objects)
            usage |= listing.usage
        snap.objects.extend(self.custom_objects)
        for namespace, manifest in manifests:
            record_manifest_usage(manifest, namespace, self.cluster_scoped, usage)
        snap.api_usage = [ApiUsage(a, k, ns, n, s) for a, k, ns, n, s in usage]
        snap.nodes = node_infos(self._listing("nodes").raw)
        snap.control_plane = control_plane_flags(
            self._listing("configmaps").raw, self.control_plane_pods, "configmaps" not in self.failed
        )
        snap.crds = self._listing("customresourcedefinitions").facts
        snap.webhooks = (self._listing("validatingwebhookconfigurations").facts
                         + self._listing("mutatingwebhookconfigurations").facts)
        snap.api_services = self._listing("apiservices").facts
        snap.helm_releases = releases
        workloads = [o for o in snap.objects if o.get("kind") in WORKLOAD_KINDS]
        snap.workloads = [workload_info(o) for o in workloads]
        snap.addons = identify(releases, workloads)
        snap.not_readable = sorted(set(self.lists.not_readable))
        return snap
