"""Read a live cluster into a :class:`Snapshot`: discovery and paged ``list`` calls only, never a write.

Every request is a GET (``/version``, ``/apis``, collection lists with ``limit``/``continue`` paging); there is
no watch, no single-object get and no write. A small thread pool fetches the lists (I/O only) while the calling
thread decodes the JSON and sanitizes each list as it arrives (the typed client's model objects would cost more
than the transfer). A type the identity may not list (HTTP 403) becomes a ``not_readable`` entry and the rest goes
on; an unreachable server or rejected credentials stop the snapshot with a typed error.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from harness import __version__
from harness.errors import InfraError, InputError
from harness.progress import Progress
from harness.snapshot import _addons, _helm, _sanitize
from harness.snapshot.model import (
    ApiUsage,
    ControlPlane,
    CRDInfo,
    HelmRelease,
    NodeInfo,
    Snapshot,
    WebhookInfo,
    WorkloadInfo,
)

JSON = "application/json"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
PAGE = 1000
WORKERS = 4
TIMEOUT = (10.0, 120.0)  # connect, read (seconds)


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
    ResourceType("configmaps", "ConfigMap", ("v1",)),  # Helm's ConfigMap storage comes along (see _HelmCollector)
    ResourceType("secrets", "Secret", ("v1",), query=(("fieldSelector", f"type!={_sanitize.HELM_SECRET_TYPE}"),)),
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
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
NOT_VISIBLE = "not visible: no kubeadm-config and no static control-plane pods (managed control plane?)"
CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "PriorityClass", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "APIService", "PodSecurityPolicy", "FlowSchema",
    "PriorityLevelConfiguration", "CertificateSigningRequest", "ComponentStatus",
})


# -- HTTP -----------------------------------------------------------------------------------------------------


class ListFailed(Exception):
    """One request failed with an HTTP status; the caller decides whether that is fatal."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason

    @property
    def short(self) -> str:
        return {403: "forbidden", 404: "not served", 401: "unauthorized"}.get(self.status, f"HTTP {self.status}")


class Reader:
    """GETs through a kubernetes ``ApiClient`` (so auth, TLS and proxies are the kubeconfig's), raw JSON out."""

    def __init__(self, api_client: Any, server: str = "") -> None:
        self.api = api_client
        self.server = server or str(getattr(api_client.configuration, "host", ""))

    def _raw(self, path: str, query: Sequence[tuple[str, str]], accept: str) -> bytes:
        from kubernetes.client.exceptions import ApiException

        api = self.api
        headers = {"Accept": accept}
        try:
            if hasattr(api, "param_serialize"):  # kubernetes >= 31 (the newer generator)
                method, url, hdrs, _, _ = api.param_serialize(
                    "GET", path, query_params=list(query), header_params=headers, auth_settings=["BearerToken"]
                )
                resp = api.call_api(method, url, header_params=hdrs, _request_timeout=TIMEOUT)
                data: bytes = resp.read()
                if not 200 <= resp.status <= 299:
                    raise ListFailed(int(resp.status), _reason(data, str(resp.reason)))
                return data
            resp = api.call_api(
                path, "GET", query_params=list(query), header_params=headers, auth_settings=["BearerToken"],
                _preload_content=False, _return_http_data_only=True, _request_timeout=TIMEOUT,
            )
            old: bytes = resp.data
            return old
        except ApiException as e:
            if not e.status:  # TLS and similar, reported by the client as status 0
                raise InfraError(f"cannot reach the cluster at {self.server}: {_one_line(str(e.reason))}") from None
            raise ListFailed(int(e.status), _reason((e.body or "").encode(), str(e.reason))) from None
        except ListFailed:
            raise
        except Exception as e:
            if _is_connection_error(e):
                raise InfraError(f"cannot reach the cluster at {self.server}: {_cause(e)}") from None
            raise

    def get(self, path: str, query: Sequence[tuple[str, str]] = (), accept: str = JSON) -> Any:
        """One GET, JSON-decoded."""
        return self.decode(path, self._raw(path, query, accept))

    def decode(self, path: str, data: bytes) -> Any:
        """JSON from ``path``, or an :class:`InfraError` saying what came instead."""
        try:
            return json.loads(data)
        except ValueError:
            raise InfraError(
                f"{self.server}{path} did not answer with JSON ({_one_line(data[:60].decode(errors='replace'))!r}…); "
                "is a proxy in the way?"
            ) from None

    def list_raw(self, path: str, query: Sequence[tuple[str, str]] = (), accept: str = JSON) -> list[bytes]:
        """All pages of a collection (``limit`` :data:`PAGE`, ``continue``), undecoded: the caller decodes them.

        A continue token that expired (410) restarts the list unpaged, for one consistent answer.
        """
        pages: list[bytes] = []
        token = ""
        while True:
            params = [*query, ("limit", str(PAGE))] + ([("continue", token)] if token else [])
            try:
                page = self._raw(path, params, accept)
            except ListFailed as e:
                if e.status == 410 and token:
                    return [self._raw(path, query, accept)]
                raise
            pages.append(page)
            token = _continue_token(page)
            if not token:
                return pages


_LIST_HEAD = re.compile(rb'\{"kind":"[A-Za-z]*List","apiVersion":"[^"]*","metadata":\{([^{}]*)\}')
_CONTINUE = re.compile(rb'"continue":"([^"\\]*)"')


def _continue_token(page: bytes) -> str:
    """A list page's ``metadata.continue``, read from the head the API server writes first; decoded if not found."""
    head = _LIST_HEAD.match(page, 0, 8192)
    if head is not None:
        m = _CONTINUE.search(head.group(1))
        return m.group(1).decode() if m else ""
    try:
        meta = json.loads(page).get("metadata") or {}
    except (ValueError, AttributeError):
        return ""
    return str(meta.get("continue") or "")


def _reason(body: bytes, fallback: str) -> str:
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return _one_line(str(message or fallback))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_connection_error(e: BaseException) -> bool:
    import urllib3

    return isinstance(e, (urllib3.exceptions.HTTPError, OSError))


def _cause(e: BaseException) -> str:
    """The innermost, human-meaningful reason of a urllib3 connection failure."""
    import urllib3

    inner: BaseException = e
    if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason is not None:
        inner = e.reason
    text = str(inner)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"Failed to establish a new connection: (.+)"):
        m = re.search(pattern, text)
        if m:
            return _one_line(m.group(1)).rstrip("')\" ")
    if isinstance(inner, urllib3.exceptions.TimeoutError):
        return "timed out"
    return _one_line(text) or type(inner).__name__


def _path(group_version: str, resource: str) -> str:
    return f"/api/{group_version}/{resource}" if "/" not in group_version else f"/apis/{group_version}/{resource}"


_Usage = tuple[str, str, str | None, str, str]  # api_version, kind, namespace, name, source


# -- collection -----------------------------------------------------------------------------------------------

Result = Any  # what was made of a list's items (a _Listing, the items, a usage set), or the ListFailed it ended with


@dataclass
class _Listing:
    """One resource type: as listed (``raw``), sanitized for recreation (``objects``), and what it tells."""

    rtype: ResourceType
    group_version: str
    raw: list[dict[str, Any]] = field(default_factory=list)  # recreated ones are sanitized in place
    objects: list[dict[str, Any]] = field(default_factory=list)
    usage: set[_Usage] = field(default_factory=set)
    facts: list[Any] = field(default_factory=list)


def _prepare(rtype: ResourceType, gv: str, items: list[dict[str, Any]]) -> _Listing:
    """Facts first (they need status), then redact and sanitize what is recreated."""
    listing = _Listing(rtype, gv, raw=items)
    for item in items:
        item["apiVersion"], item["kind"] = gv, rtype.kind
    if rtype.resource == "customresourcedefinitions":
        listing.facts = [_crd(i) for i in items]
    elif rtype.resource.endswith("webhookconfigurations"):
        listing.facts = _webhooks(items, rtype.resource.removesuffix("webhookconfigurations"))
    elif rtype.resource == "apiservices":
        listing.facts = [_api_service(i) for i in items]
    if rtype.recreate:
        for item in items:
            reason = _sanitize.skip_reason(item)
            if reason is None:
                _record_usage(item, listing.usage)
                _sanitize.redact(item)
                listing.objects.append(_sanitize.sanitize(item, gv, rtype.kind))
            elif reason.startswith(_sanitize.OWNED):  # not recreated, but its writer's API version matters
                _record_usage(item, listing.usage)
    return listing


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
            raise InputError(f"the cluster at {reader.server} rejected the credentials (401 Unauthorized)") from None
        raise InfraError(f"the cluster at {reader.server} answered /version with {e.short}: {e.reason}") from None
    server_version = str(version.get("gitVersion", ""))
    progress.step(f"Reading the cluster at {reader.server} (Kubernetes {server_version})")
    pool = cf.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="snapshot")
    try:
        snapshot = _Collector(reader, pool, progress).run(server_version, source or {})
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # do not wait for lists in flight (Ctrl-C, errors)
        raise
    pool.shutdown()
    return snapshot


@dataclass
class _Fetched:
    """The raw pages of one list, fetched by a worker; decoded and prepared on the collecting thread."""

    group_version: str
    path: str
    pages: list[bytes]

    def items(self, reader: Reader) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.pages:
            items.extend(reader.decode(self.path, page).get("items") or [])
        return items


class _Collector:
    """Workers only fetch (I/O, no GIL held for long); this thread decodes and prepares each list as it arrives.

    That split keeps one core busy with JSON and sanitizing while the API server works on the next lists.
    """

    def __init__(self, reader: Reader, pool: cf.Executor, progress: Progress) -> None:
        self.reader, self.pool, self.progress = reader, pool, progress
        self.listings: dict[str, _Listing] = {}
        self.failed: dict[str, ListFailed] = {}
        self.not_readable: list[str] = []
        self.cluster_scoped: set[str] = set(CLUSTER_SCOPED_KINDS)
        self.custom_resources: set[_Usage] = set()
        self.custom_objects: list[dict[str, Any]] = []
        self.control_plane_pods: list[dict[str, Any]] | ListFailed = []
        self.pending: dict[cf.Future[_Fetched], tuple[str, Callable[[_Fetched], Any], Callable[[Result], None]]] = {}
        self.done = 0

    def submit(
        self, label: str, path: str, query: Sequence[tuple[str, str]], accept: str,
        handle: Callable[[Result], None], prepare: Callable[[list[dict[str, Any]]], Any] | None = None,
    ) -> None:
        """List ``path`` in the pool; decode and ``prepare`` the items, then ``handle`` the result, here."""
        def fetch() -> _Fetched:
            return _Fetched("", path, self.reader.list_raw(path, query, accept))

        def make(fetched: _Fetched) -> Any:
            items = fetched.items(self.reader)
            return prepare(items) if prepare is not None else items

        self.pending[self.pool.submit(fetch)] = (label, make, handle)

    def _submit_type(self, rtype: ResourceType, versions: list[str], handle: Callable[[Result], None]) -> None:
        """List ``rtype`` with the first of ``versions`` that serves it (404: try the next)."""
        def fetch() -> _Fetched:
            for gv in versions[:-1]:
                path = _path(gv, rtype.resource)
                try:
                    return _Fetched(gv, path, self.reader.list_raw(path, rtype.query, JSON))
                except ListFailed as e:
                    if e.status != 404:
                        raise
            gv = versions[-1]
            path = _path(gv, rtype.resource)
            return _Fetched(gv, path, self.reader.list_raw(path, rtype.query, JSON))

        def make(fetched: _Fetched) -> _Listing:
            return _prepare(rtype, fetched.group_version, fetched.items(self.reader))

        self.pending[self.pool.submit(fetch)] = (rtype.resource, make, handle)

    def _drain(self) -> None:
        while self.pending:
            finished, _ = cf.wait(self.pending, return_when=cf.FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: self.pending[f][0]):
                label, make, handle = self.pending.pop(future)
                try:
                    result: Result = make(future.result())
                except ListFailed as e:
                    if e.status == 401:
                        self._cancel()
                        raise InputError(
                            f"the cluster at {self.reader.server} rejected the credentials (401 Unauthorized)"
                        ) from None
                    result = e
                except BaseException:
                    self._cancel()
                    raise
                self.done += 1
                if isinstance(result, ListFailed):
                    count = f"{result.short}, "
                else:
                    count = f"{len(result.raw if isinstance(result, _Listing) else result)} "
                self.progress.update(f"{label}: {count}({self.done} of {self.done + len(self.pending)} lists done)")
                handle(result)

    def _cancel(self) -> None:
        for f in self.pending:
            f.cancel()
        self.pending.clear()

    def unreadable(self, what: str, error: ListFailed) -> None:
        reason = error.short if error.status in (401, 403, 404) else f"{error.short}: {error.reason}"
        self.not_readable.append(f"{what} ({reason})")

    def run(self, server_version: str, source: dict[str, str]) -> Snapshot:
        candidates = _discover(self.reader)
        helm = _HelmCollector(self)

        def handler(rtype: ResourceType) -> Callable[[Result], None]:
            def handle(result: Result) -> None:
                if isinstance(result, ListFailed):
                    self.failed[rtype.resource] = result
                    if result.status != 404:
                        self.unreadable(rtype.resource, result)
                    return
                self.listings[rtype.resource] = result
                if rtype.resource == "customresourcedefinitions":
                    self._submit_custom_resources(result.raw)
            return handle

        self.progress.update(f"listing {len(candidates)} resource types")
        for t in sorted(TYPES, key=lambda t: t.resource not in LARGE_FIRST):  # the long lists start first
            if t.resource in candidates:
                self._submit_type(t, candidates[t.resource], handler(t))
        self._submit_control_plane_pods()
        helm.submit()
        self._drain()
        self.progress.update("assembling the snapshot")
        releases = helm.releases()
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

            def prepare(items: list[dict[str, Any]], kind: str = kind,
                        gv: str = gv) -> tuple[set[_Usage], list[dict[str, Any]]]:
                # Custom resources are what add-ons are configured with (Certificates, Issuers, an operator's
                # objects): kept for recreation like built-in objects, sanitized and redacted the same way.
                usage: set[_Usage] = set()
                objects: list[dict[str, Any]] = []
                for item in items:
                    item["apiVersion"], item["kind"] = gv, kind
                    reason = _sanitize.skip_reason(item)
                    if reason is None or reason.startswith(_sanitize.OWNED):
                        _record_usage(item, usage)
                    if reason is None:
                        _sanitize.redact(item)
                        objects.append(_sanitize.sanitize(item, gv, kind))
                return usage, objects

            def handle(result: Result, what: str = f"{plural}.{group}") -> None:
                if isinstance(result, ListFailed):
                    if result.status != 404:
                        self.unreadable(what, result)
                    return
                usage, objects = result
                self.custom_resources |= usage
                self.custom_objects.extend(objects)

            self.submit(f"{plural}.{group}", _path(gv, plural), (), JSON, handle, prepare)

    # -- control plane ---------------------------------------------------------------------------------------

    def _submit_control_plane_pods(self) -> None:
        selector = f"component in ({','.join(CONTROL_PLANE_COMPONENTS)})"

        def handle(result: Result) -> None:
            self.control_plane_pods = result

        self.submit("control-plane pods", "/api/v1/namespaces/kube-system/pods", (("labelSelector", selector),),
                    JSON, handle)

    # -- assembling ------------------------------------------------------------------------------------------

    def _listing(self, resource: str) -> _Listing:
        return self.listings.get(resource) or _Listing(ResourceType(resource, "", ()), "")

    def _assemble(
        self, server_version: str, source: dict[str, str], releases: list[HelmRelease],
        manifests: list[tuple[str, str]],
    ) -> Snapshot:
        snap = Snapshot(server_version=server_version, source=dict(source))
        snap.source.setdefault("rehearse-version", __version__)
        usage: set[_Usage] = set(self.custom_resources)
        for listing in self.listings.values():
            snap.objects.extend(listing.objects)
            usage |= listing.usage
        snap.objects.extend(self.custom_objects)
        for namespace, manifest in manifests:
            self._record_manifest_usage(manifest, namespace, usage)
        snap.api_usage = [ApiUsage(a, k, ns, n, s) for a, k, ns, n, s in usage]
        snap.nodes = _nodes(self._listing("nodes").raw)
        snap.control_plane = _control_plane(
            self._listing("configmaps").raw, self.control_plane_pods, "configmaps" not in self.failed
        )
        snap.crds = self._listing("customresourcedefinitions").facts
        snap.webhooks = (self._listing("validatingwebhookconfigurations").facts
                         + self._listing("mutatingwebhookconfigurations").facts)
        snap.api_services = self._listing("apiservices").facts
        snap.helm_releases = releases
        workloads = [o for o in snap.objects if o.get("kind") in _addons.WORKLOAD_KINDS]
        snap.workloads = [_workload(o) for o in workloads]
        snap.addons = _addons.identify(releases, workloads)
        snap.not_readable = sorted(set(self.not_readable))
        return snap

    def _record_manifest_usage(self, manifest: str, namespace: str, usage: set[_Usage]) -> None:
        try:
            docs = list(yaml.load_all(manifest, Loader=_YAML_LOADER))
        except yaml.YAMLError:
            return
        for doc in docs:
            if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
                continue
            kind = str(doc["kind"])
            meta = doc.get("metadata") or {}
            ns = None if kind in self.cluster_scoped else str(meta.get("namespace") or namespace)
            usage.add((str(doc["apiVersion"]), kind, ns, str(meta.get("name", "")), "helm-manifest"))


_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _record_usage(item: dict[str, Any], usage: set[_Usage]) -> None:
    """Add the API versions ``item`` was written with (managedFields, last-applied) to ``usage``."""
    meta = item.get("metadata") or {}
    kind, name = str(item.get("kind", "")), str(meta.get("name", ""))
    ns = meta.get("namespace")
    for entry in meta.get("managedFields") or []:
        if isinstance(entry, dict) and entry.get("apiVersion"):
            usage.add((str(entry["apiVersion"]), kind, ns, name, "managedFields"))
    applied = (meta.get("annotations") or {}).get(_sanitize.LAST_APPLIED)
    if isinstance(applied, str) and applied:
        api_version = _sanitize.applied_api_version(applied)
        if api_version:
            usage.add((api_version, kind, ns, name, "last-applied"))


# -- Helm -----------------------------------------------------------------------------------------------------


class _HelmCollector:
    """Helm storage, read with as little transfer as the two drivers allow.

    Secrets (the default driver, one per revision, often large): a metadata-only list (``owner=helm``) picks the
    revisions, then only those are listed with their data: one list per namespace holding a chosen deployed
    revision (``owner=helm,status=deployed``), one per release without a deployed revision. ConfigMaps: the
    ConfigMap list the snapshot takes anyway holds them (one scan of ConfigMaps instead of three).
    """

    def __init__(self, owner: _Collector) -> None:
        self.c = owner
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.blocked: set[str] = set()
        self.manifests: list[tuple[str, str]] = []

    def submit(self) -> None:
        self.c.submit("helm secrets", "/api/v1/secrets", (("labelSelector", "owner=helm"),), METADATA_ONLY,
                      self._on_metadata("secret"))

    def _from_configmaps(self) -> None:
        """Helm's ConfigMap storage, out of the ConfigMap list."""
        if "configmaps" in self.c.failed:
            self._blocked("configmap", self.c.failed["configmaps"])
            return
        listing = self.c.listings.get("configmaps")
        for item in listing.raw if listing else []:
            labels = (item.get("metadata") or {}).get("labels") or {}
            if labels.get("owner") == "helm":
                self.items.append(("configmap", item))

    def _blocked(self, storage: str, e: ListFailed) -> None:
        if storage not in self.blocked:
            self.blocked.add(storage)
            self.c.unreadable(f"helm releases stored in {storage}s", e)

    def _on_metadata(self, storage: str) -> Callable[[Result], None]:
        def handle(result: Result) -> None:
            if isinstance(result, ListFailed):
                self._blocked(storage, result)
                return
            revisions = [r for r in (_helm.revision_of(i.get("metadata") or {}) for i in result) if r is not None]
            chosen = _helm.choose(revisions)
            lists = {(r.namespace, "owner=helm,status=deployed") for r in chosen if r.status == "deployed"}
            lists |= {(r.namespace, f"owner=helm,name={r.release},version={r.revision}")
                      for r in chosen if r.status != "deployed"}
            for namespace, selector in sorted(lists):
                self.c.submit(f"helm {storage}s in {namespace}", f"/api/v1/namespaces/{namespace}/{storage}s",
                              (("labelSelector", selector),), JSON, self._on_data(storage))
        return handle

    def _on_data(self, storage: str) -> Callable[[Result], None]:
        def handle(result: Result) -> None:
            if isinstance(result, ListFailed):
                self._blocked(storage, result)
                return
            self.items.extend((storage, item) for item in result)
        return handle

    def releases(self) -> list[HelmRelease]:
        """Decode the chosen revisions (highest deployed per release, else highest)."""
        self._from_configmaps()
        objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        revisions = []
        for storage, item in self.items:
            rev = _helm.revision_of(item.get("metadata") or {})
            if rev is not None:
                objects[(storage, rev.namespace, rev.object_name)] = item
                revisions.append((storage, rev))
        out: list[HelmRelease] = []
        for storage in ("secret", "configmap"):
            for rev in _helm.choose(r for s, r in revisions if s == storage):
                item = objects[(storage, rev.namespace, rev.object_name)]
                data = (item.get("data") or {}).get("release")
                where = f"helm release {rev.namespace}/{rev.release} revision {rev.revision}"
                if not isinstance(data, str):
                    self.c.not_readable.append(f"{where} (no release data)")
                    continue
                try:
                    decoded = _helm.decode(data, storage)
                except _helm.HelmDecodeError as e:
                    self.c.not_readable.append(f"{where} ({e})")
                    continue
                out.append(_helm.to_model(decoded, storage))
                ns = str(decoded.get("namespace") or rev.namespace)
                self.manifests.append((ns, str(decoded.get("manifest") or "")))
                self.manifests.extend((ns, m) for m in _helm.hook_manifests(decoded))
        return out


# -- facts ----------------------------------------------------------------------------------------------------


_CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
# taints that reflect a node's state (not-ready, unreachable, pressure…), set and cleared by the control plane
_CONDITION_TAINTS = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")


def _nodes(items: Iterable[dict[str, Any]]) -> list[NodeInfo]:
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


def _control_plane(
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


def _crd(item: dict[str, Any]) -> CRDInfo:
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


def _webhooks(items: Iterable[dict[str, Any]], kind: str) -> list[WebhookInfo]:
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


def _api_service(item: dict[str, Any]) -> dict[str, Any]:
    spec = item.get("spec") or {}
    svc = spec.get("service") or {}
    return {
        "name": str((item.get("metadata") or {}).get("name", "")),
        "group": str(spec.get("group", "") or ""),
        "version": str(spec.get("version", "") or ""),
        "service": f"{svc.get('namespace', '')}/{svc.get('name', '')}:{svc.get('port', 443)}" if svc else "",
        "local": not svc,
    }


def _workload(obj: dict[str, Any]) -> WorkloadInfo:
    meta = obj.get("metadata") or {}
    replicas = (obj.get("spec") or {}).get("replicas")
    return WorkloadInfo(
        kind=str(obj.get("kind", "")), namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
        images=_addons.images_of(obj), replicas=replicas if isinstance(replicas, int) else None,
    )
