"""Read a live cluster into a :class:`Snapshot`: which resource types are listed and what is made of them.

Discovery decides what is listed (:mod:`._discovery`): every resource the server serves with ``list``, built-in and
CRD groups alike, at the version chosen for it, except the deny-list; group versions an add-on serves through an
APIService with a Service are recorded through the APIService (``not_recreatable``), not listed. The lists are read
by :mod:`._reader` (GETs only, paged, in parallel), each prepared as it arrives: facts first (:mod:`._build`), then
what is recreated is redacted and sanitized (:mod:`._sanitize`), and the API versions objects were written with go
to ``api_usage`` (:mod:`._writers`). Helm storage is read by :mod:`._helm`. A type the identity may not list (HTTP
403) becomes a ``not_readable`` entry and the rest goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness import __version__
from harness.errors import InfraError
from harness.progress import Progress
from harness.snapshot._build import (
    CONTROL_PLANE_COMPONENTS,
    api_service_info,
    control_plane_flags,
    crd_info,
    node_infos,
    record_manifest_usage,
    webhook_infos,
    workload_info,
)
from harness.snapshot._discovery import BUILT_IN_GROUPS, GroupInfo, ResourceType, aggregated, choose, groups_of
from harness.snapshot._extras import component_configs, deprecated_requests, token_secrets
from harness.snapshot._helm import HelmStorage
from harness.snapshot._reader import JSON, ListFailed, Lists, Reader, Result, rejected_credentials
from harness.snapshot._sanitize import OWNED, redact, sanitize, skip_reason
from harness.snapshot._writers import Usage, control_plane_reason, record_usage
from harness.snapshot.addons import WORKLOAD_KINDS, identify
from harness.snapshot.model import ApiUsage, DeprecatedApiRequest, HelmRelease, NotRecreatable, Snapshot

WORKERS = 4
DEPRECATED_SOURCE = "apiserver_requested_deprecated_apis"
LARGE_FIRST = frozenset({"configmaps", "secrets", "pods", "deployments", "replicasets", "services", "endpoints",
                         "endpointslices", "serviceaccounts", "rolebindings"})
API_SERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# Kinds known to be cluster-scoped even when discovery does not serve them (in Helm manifests, say); discovery adds
# every cluster-scoped kind it serves.
CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "PriorityClass", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "APIService", "PodSecurityPolicy", "FlowSchema",
    "PriorityLevelConfiguration", "CertificateSigningRequest", "ComponentStatus",
})


@dataclass
class _Listing:
    """One resource type: as listed (``raw``), sanitized for recreation (``objects``), and what it tells."""

    rtype: ResourceType
    raw: list[dict[str, Any]] = field(default_factory=list)  # recreated ones are sanitized in place
    objects: list[dict[str, Any]] = field(default_factory=list)
    usage: set[Usage] = field(default_factory=set)
    facts: list[Any] = field(default_factory=list)

    def __len__(self) -> int:  # what the progress line counts
        return len(self.raw)


def _prepare(rtype: ResourceType, items: list[dict[str, Any]]) -> _Listing:
    """Facts first (they need status), then redact and sanitize what is recreated."""
    listing = _Listing(rtype, raw=items)
    gv = rtype.group_version
    for item in items:
        item["apiVersion"], item["kind"] = gv, rtype.kind
    what = (rtype.group, rtype.resource)
    if what == ("apiextensions.k8s.io", "customresourcedefinitions"):
        listing.facts = [crd_info(i) for i in items]
    elif rtype.group == "admissionregistration.k8s.io" and rtype.resource.endswith("webhookconfigurations"):
        listing.facts = webhook_infos(items, rtype.resource.removesuffix("webhookconfigurations"))
    elif what == ("apiregistration.k8s.io", "apiservices"):
        listing.facts = [api_service_info(i) for i in items]
    if rtype.keeps != "facts":
        listing.objects = _recreated(items, rtype, listing.usage)
    return listing


def _skip(item: dict[str, Any], rtype: ResourceType) -> str | None:
    """Why ``item`` is not recreated (the sanitizer's reasons, then the control plane's own objects), or None."""
    if rtype.keeps == "user-written":  # Endpoints, EndpointSlices: the sanitizer would leave every one out
        owner = next((r for r in (item.get("metadata") or {}).get("ownerReferences") or []
                      if isinstance(r, dict) and r.get("controller")), None)
        if owner is not None:
            return f"{OWNED} {owner.get('kind')}/{owner.get('name')}"
        return control_plane_reason(item, rtype.keeps)
    return skip_reason(item) or control_plane_reason(item, rtype.keeps)


def _recreated(items: list[dict[str, Any]], rtype: ResourceType, usage: set[Usage]) -> list[dict[str, Any]]:
    """The ``items`` to recreate, redacted and sanitized; the API versions they were written with go to ``usage``
    (and those of owned items, not recreated, but their writer's API version matters)."""
    objects = []
    gv, kind = rtype.group_version, rtype.kind
    for item in items:
        reason = _skip(item, rtype)
        if reason is None or reason.startswith(OWNED):
            record_usage(item, usage)
        if reason is None:
            redact(item)
            objects.append(sanitize(item, gv, kind))
    return objects


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
        self.not_recreatable: list[NotRecreatable] = []
        self.control_plane_pods: list[dict[str, Any]] | ListFailed = []
        self.deprecated: list[DeprecatedApiRequest] | None = None

    # -- lists -----------------------------------------------------------------------------------------------

    def submit_type(self, rtype: ResourceType) -> None:
        def prepare(_path: str, items: list[dict[str, Any]]) -> _Listing:
            return _prepare(rtype, items)

        def handle(result: Result) -> None:
            if isinstance(result, ListFailed):
                self.failed[rtype.label] = result
                if result.status != 404:  # 404: gone since discovery (a CRD deleted meanwhile)
                    self.lists.unreadable(rtype.label, result)
                return
            self.listings[rtype.label] = result

        self.lists.submit(rtype.label, [rtype.path], rtype.query, JSON, handle, prepare)

    def run(self, server_version: str, source: dict[str, str]) -> Snapshot:
        _Discovery(self).start()
        helm = HelmStorage(self.lists)
        self._submit_control_plane_pods()
        self._submit_metrics()
        helm.submit()
        self.lists.drain()
        self.lists.progress.update("assembling the snapshot")
        configmaps = self.failed["configmaps"] if "configmaps" in self.failed else self._listing("configmaps").raw
        releases = helm.releases(configmaps)
        return self._assemble(server_version, source, releases, helm.manifests)

    # -- control plane ---------------------------------------------------------------------------------------

    def _submit_control_plane_pods(self) -> None:
        selector = f"component in ({','.join(CONTROL_PLANE_COMPONENTS)})"

        def handle(result: Result) -> None:
            self.control_plane_pods = result

        self.lists.submit("control-plane pods", ["/api/v1/namespaces/kube-system/pods"],
                          (("labelSelector", selector),), JSON, handle)

    def _submit_metrics(self) -> None:
        """The API server's deprecated-API gauge (``/metrics``, a non-resource GET the identity may lack)."""
        def handle(result: Result) -> None:
            if isinstance(result, ListFailed):
                self.lists.unreadable("/metrics (the deprecated APIs production still calls)", result)
            else:
                self.deprecated = deprecated_requests(result)

        self.lists.fetch_text("/metrics", "/metrics", handle)

    # -- assembling ------------------------------------------------------------------------------------------

    def _listing(self, label: str) -> _Listing:
        listing = self.listings.get(label)
        return listing if listing is not None else _Listing(ResourceType("", "", label, "", False))

    def _assemble(
        self, server_version: str, source: dict[str, str], releases: list[HelmRelease],
        manifests: list[tuple[str, str]],
    ) -> Snapshot:
        snap = Snapshot(server_version=server_version, source=dict(source))
        snap.source.setdefault("rehearse-version", __version__)
        usage: set[Usage] = set()
        for listing in self.listings.values():
            snap.objects.extend(listing.objects)
            usage |= listing.usage
        for namespace, manifest in manifests:
            record_manifest_usage(manifest, namespace, self.cluster_scoped, usage)
        snap.api_usage = [ApiUsage(*u) for u in usage]
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
        snap.component_configs = component_configs(self._listing("configmaps").raw)
        if "secrets" in self.listings:
            snap.service_account_tokens = token_secrets(self._listing("secrets").raw)
        snap.deprecated_api_requests = self.deprecated
        if self.deprecated is not None:
            snap.source["deprecated-apis"] = (
                f"{DEPRECATED_SOURCE} of the API server instance that answered, since it last started")
        snap.not_readable = sorted(set(self.lists.not_readable))
        snap.not_recreatable = self.not_recreatable
        return snap


APISERVICES = ResourceType("apiregistration.k8s.io", "v1", "apiservices", "APIService", namespaced=False)


class _Discovery:
    """Discovery as its documents arrive, each group's types listed as soon as all its versions are known (the
    core group's, with the longest lists, usually first). Group versions outside the built-in groups wait for the
    APIServices: an add-on's (``spec.service``) are recorded, not listed. When the APIServices cannot be read, a
    group version is listed only if a CRD serves it."""

    def __init__(self, collector: _Collector) -> None:
        self.c = collector
        self.lists = collector.lists
        self.groups: list[GroupInfo] | None = None
        self.addons: dict[str, str] | None = None  # group/version → its APIService and Service, once read
        self.services_failed = False
        self.documents: dict[str, dict[str, Mapping[str, Any]]] = {}  # group → version → APIResourceList
        self.waiting: dict[str, int] = {}  # group → documents still to come

    def start(self) -> None:
        self.lists.fetch("/api/v1", "/api/v1", self._on_core)
        self.lists.fetch("/apis", "/apis", self._on_apis)
        self.lists.submit(APISERVICES.label, [APISERVICES.path], (), JSON, self._on_services, _items_of)

    def _fatal(self, e: ListFailed) -> InfraError:
        return InfraError(f"API discovery failed at {self.lists.reader.server}: {e.short}: {e.reason}")

    def _on_core(self, doc: Result) -> None:
        if isinstance(doc, ListFailed):
            raise self._fatal(doc) from None
        self._submit_group(GroupInfo("", ("v1",), "v1"), {"v1": doc})

    def _on_apis(self, doc: Result) -> None:
        if isinstance(doc, ListFailed):
            raise self._fatal(doc) from None
        self.groups = groups_of(doc)[1:]
        self._fetch([(g, list(g.versions)) for g in self.groups if g.name in BUILT_IN_GROUPS])
        self._others()

    def _on_services(self, result: Result) -> None:
        self.addons = {}
        if isinstance(result, ListFailed):
            self.services_failed = True
            self.c.failed[APISERVICES.label] = result
            if result.status != 404:
                self.lists.unreadable(APISERVICES.label, result)
        else:
            for gv, item in aggregated(result).items():  # before the items are prepared (sanitized) in place
                svc = (item.get("spec") or {}).get("service") or {}
                self.addons[gv] = (f"APIService {(item.get('metadata') or {}).get('name', '')} → Service "
                                   f"{svc.get('namespace', '')}/{svc.get('name', '')}")
            self.c.listings[APISERVICES.label] = _prepare(APISERVICES, result)
        self._others()

    def _others(self) -> None:
        """The group versions outside the built-in groups, once both ``/apis`` and the APIServices are known."""
        if self.groups is None or self.addons is None:
            return
        if self.services_failed:
            self.lists.submit("customresourcedefinitions (which groups are CRDs')", [CRDS], (), JSON,
                              self._on_crds, _items_of)
            return
        wanted = []
        for group in self.groups:
            if group.name in BUILT_IN_GROUPS:
                continue
            for gv in (group.group_version(v) for v in group.versions):
                if gv in self.addons:
                    self.c.not_recreatable.append(NotRecreatable(
                        gv, "*", None, f"served by an add-on's own API server ({self.addons[gv]}): its objects are "
                        "not stored by the cluster's API server; recorded through the APIService, not listed"))
            wanted.append((group, [v for v in group.versions if group.group_version(v) not in self.addons]))
        self._fetch(wanted)

    def _on_crds(self, result: Result) -> None:
        why = "not listed: APIServices are not readable, so an add-on's API cannot be told from a CRD's, and"
        if isinstance(result, ListFailed):
            served: set[str] = set()
            why += f" CustomResourceDefinitions are not readable either ({result.short})"
        else:
            served = {f"{(c.get('spec') or {}).get('group')}/{v.get('name')}" for c in result
                      for v in (c.get("spec") or {}).get("versions") or [] if isinstance(v, dict) and v.get("served")}
            why += " no CustomResourceDefinition serves it"
        wanted = []
        for group in self.groups or []:
            if group.name in BUILT_IN_GROUPS:
                continue
            versions = [v for v in group.versions if group.group_version(v) in served]
            self.c.not_recreatable += [NotRecreatable(group.group_version(v), "*", None, why)
                                       for v in group.versions if v not in versions]
            wanted.append((group, versions))
        self._fetch(wanted)

    def _fetch(self, wanted: list[tuple[GroupInfo, list[str]]]) -> None:
        """Read the discovery document of each of these versions; list the group's types when all have come."""
        for group, versions in wanted:
            if not versions:
                continue
            self.waiting[group.name] = len(versions)
            self.documents[group.name] = {}
            for version in versions:
                gv = group.group_version(version)

                def handle(doc: Result, group: GroupInfo = group, version: str = version, gv: str = gv) -> None:
                    if isinstance(doc, ListFailed):
                        if doc.status != 404:
                            self.lists.unreadable(f"{gv} discovery", doc)
                    else:
                        self.documents[group.name][version] = doc
                    self.waiting[group.name] -= 1
                    if not self.waiting[group.name]:
                        self._submit_group(group, self.documents[group.name])

                self.lists.fetch(f"/apis/{gv}", f"/apis/{gv}", handle)

    def _submit_group(self, group: GroupInfo, documents: Mapping[str, Mapping[str, Any]]) -> None:
        types = choose(group, documents).types
        for t in sorted(types, key=lambda t: (t.resource not in LARGE_FIRST, t.label)):  # the long lists first
            if not t.namespaced:
                self.c.cluster_scoped.add(t.kind)
            if t.label != APISERVICES.label:  # read first, to tell an add-on's group versions
                self.c.submit_type(t)


def _items_of(_path: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return items
