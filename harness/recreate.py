"""Recreate a snapshot's add-ons in the rehearsal cluster: server-side apply in dependency order.

Namespaces and CRDs first (waiting until Established), then cluster policy, RBAC and service accounts,
configuration, services, workloads, custom resources, and admission webhooks and APIServices last so that
nothing they intercept is blocked while the rest is applied. Helm releases are recreated from their rendered
manifests plus the release record, so ``helm list`` in the rehearsal cluster shows them at the same versions.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InfraError
from harness.progress import NullProgress, Progress
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import HelmRelease, Snapshot

FIELD_MANAGER = "rehearse"

_ORDER = [
    "Namespace", "CustomResourceDefinition", "PriorityClass", "StorageClass", "IngressClass", "RuntimeClass",
    "PodSecurityPolicy", "PriorityLevelConfiguration", "FlowSchema", "ClusterRole", "ClusterRoleBinding", "Role",
    "RoleBinding", "ServiceAccount", "ConfigMap", "Secret", "LimitRange", "ResourceQuota", "Service",
    "PersistentVolumeClaim", "Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob",
    "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "NetworkPolicy",
]
_LAST = ["APIService", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]


def apply_rank(obj: dict[str, Any]) -> int:
    """Position of an object in the apply order (custom resources after workloads, webhooks last)."""
    kind = obj.get("kind", "")
    if kind in _ORDER:
        return _ORDER.index(kind)
    if kind in _LAST:
        return len(_ORDER) + 1 + _LAST.index(kind)
    return len(_ORDER)


def key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """Identity of an object across API versions: (group, kind, namespace, name)."""
    api_version = obj.get("apiVersion", "")
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    meta = obj.get("metadata") or {}
    return group, obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


def ref(obj: dict[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(apiVersion=obj.get("apiVersion", ""), kind=obj.get("kind", ""),
                     namespace=meta.get("namespace"), name=meta.get("name", ""))


@dataclass
class Applied:
    """One object as recreated: how production wrote it, and how it was applied here."""

    written: dict[str, Any]  # the object as written in production (its original apiVersion)
    applied_version: str | None  # the apiVersion it was applied with here, None if it could not be
    source: str  # "snapshot", "manifest", "helm:<namespace>/<release>"
    error: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class RecreateResult:
    applied: list[Applied] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    helm_records: list[HelmRelease] = field(default_factory=list)

    @property
    def ok(self) -> list[Applied]:
        return [a for a in self.applied if a.applied_version]


class Applier:
    """Server-side apply through the DynamicClient, with the apiserver's warnings captured."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        # The client's default discovery cache is a file in /tmp keyed by the server URL: it would outlive an
        # upgrade (same URL, other APIs) and could belong to another cluster that used the same port. Each
        # Applier discovers for itself into its own file.
        self._cache_dir = tempfile.mkdtemp(prefix="rehearse-discovery-")
        weakref.finalize(self, shutil.rmtree, self._cache_dir, True)
        self.dyn = self._client()

    def _client(self) -> Any:
        from kubernetes.dynamic import DynamicClient

        cache = Path(self._cache_dir) / "discovery.json"
        cache.unlink(missing_ok=True)
        return DynamicClient(self.api_client, cache_file=str(cache))  # type: ignore[no-untyped-call]

    def refresh(self) -> None:
        """Forget discovery (after CRDs were added, or after an upgrade)."""
        self.dyn = self._client()

    def resource(self, api_version: str, kind: str) -> Any:
        """The API resource for ``api_version``/``kind``, or None when the server does not serve it."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return None

    def preferred_version(self, api_version: str, kind: str) -> str | None:
        """The version the server prefers for the same group and kind (None when the kind is gone)."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        try:
            found = self.dyn.resources.search(group=group or None, kind=kind)
        except ResourceNotFoundError:
            return None
        preferred = [r for r in found if getattr(r, "preferred", False) and "/" not in r.name]
        candidates = preferred or [r for r in found if "/" not in r.name]
        return str(candidates[0].group_version) if candidates else None

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> tuple[bool, str, list[str]]:
        """Server-side apply ``obj``; returns (ok, error message, warnings)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError

        res = self.resource(obj["apiVersion"], obj["kind"])
        if res is None:
            return False, f"the server does not serve {obj['kind']} in {obj['apiVersion']}", []
        meta = obj.get("metadata") or {}
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": True, "serialize": False}
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            resp = self.dyn.server_side_apply(
                res, body=obj, name=meta.get("name"), namespace=meta.get("namespace") if res.namespaced else None,
                **kwargs)
        except (DynamicApiError, ApiException) as e:
            return False, _api_error_message(e), []
        warnings = _warnings(getattr(resp, "headers", None))
        return True, "", warnings


def _warnings(headers: Any) -> list[str]:
    if headers is None:
        return []
    values = headers.get_all("Warning") if hasattr(headers, "get_all") else None
    if values is None:
        raw = headers.get("Warning")
        values = [raw] if raw else []
    out = []
    for v in values:
        # RFC 7234 warning: 299 - "text"
        text = v.split(" ", 2)[-1].strip() if v.startswith("299") else v
        out.append(text.strip('"'))
    return out


def _api_error_message(e: Exception) -> str:
    body = getattr(e, "body", None)
    if body:
        try:
            msg = json.loads(body).get("message")
            if msg:
                return str(msg)
        except (ValueError, AttributeError, TypeError):
            pass
    status = getattr(e, "status", "")
    return f"{status} {getattr(e, 'reason', '') or e}".strip()


def _for_apply(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy fit for server-side apply (no status, no server-set fields)."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"):
        meta.pop(k, None)
    out["metadata"] = meta
    return out


def _wait_crds_established(applier: Applier, names: list[str], timeout: float = 60) -> None:
    if not names:
        return
    res = applier.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    deadline = time.monotonic() + timeout
    pending = list(names)
    while time.monotonic() < deadline:
        pending = []
        for n in names:
            crd = res.get(name=n).to_dict()
            conds = crd.get("status", {}).get("conditions") or []
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                pending.append(n)
        if not pending:
            applier.refresh()
            return
        time.sleep(0.2)
    raise InfraError(f"CRDs not Established after {timeout:.0f}s: {', '.join(pending)}")


def helm_objects(release: HelmRelease) -> list[dict[str, Any]]:
    """The objects of a release's rendered manifest, namespaced into the release namespace where unset."""
    objs = []
    for doc in yaml.safe_load_all(release.manifest or ""):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        objs.append(doc)
    return objs


def helm_storage_object(release: HelmRelease) -> dict[str, Any]:
    """Helm v3's own release record (Secret or ConfigMap driver) for ``release``.

    Helm stores ``base64(gzip(json(release)))`` under ``release`` in a Secret ``sh.helm.release.v1.NAME.vREV`` of
    type ``helm.sh/release.v1`` (or a ConfigMap of that name), labelled name/owner/status/version.
    """
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
    record = {
        "name": release.name,
        "namespace": release.namespace,
        "version": release.revision,
        "info": {"status": release.status or "deployed", "first_deployed": now, "last_deployed": now,
                 "description": release.description or "recreated by rehearse"},
        "chart": {"metadata": {"apiVersion": "v2", "name": release.chart, "version": release.chart_version,
                               "appVersion": release.app_version, "kubeVersion": release.kube_version},
                  "templates": [], "values": {}},
        "config": release.values,
        "manifest": release.manifest,
    }
    encoded = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    name = f"sh.helm.release.v1.{release.name}.v{release.revision}"
    labels = {"name": release.name, "owner": "helm", "status": release.status or "deployed",
              "version": str(release.revision)}
    meta = {"name": name, "namespace": release.namespace, "labels": labels}
    if release.storage == "configmap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"release": encoded}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "helm.sh/release.v1",
            "data": {"release": base64.b64encode(encoded.encode()).decode()}}


def plan_objects(snapshot: Snapshot) -> list[tuple[dict[str, Any], str]]:
    """Every object to recreate with its source, de-duplicated by identity, in apply order."""
    seen: dict[tuple[str, str, str, str], tuple[dict[str, Any], str]] = {}
    entries: list[tuple[dict[str, Any], str]] = [(as_written(o, snapshot), "snapshot") for o in snapshot.objects]
    for rel in snapshot.helm_releases:
        for o in helm_objects(rel):
            meta = o.setdefault("metadata", {})
            if "namespace" not in meta and o.get("kind") not in _CLUSTER_SCOPED:
                meta["namespace"] = rel.namespace
            entries.append((o, f"helm:{rel.namespace}/{rel.name}"))
    for obj, src in entries:
        seen.setdefault(key(obj), (obj, src))
    namespaces = {k[2] for k in seen if k[2]}
    for ns in sorted(namespaces):
        if ("", "Namespace", "", ns) not in seen and ns not in ("default", "kube-system", "kube-public"):
            seen[("", "Namespace", "", ns)] = ({"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": ns}}, "implied")
    return sorted(seen.values(), key=lambda e: (apply_rank(e[0]), key(e[0])))


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def as_written(obj: dict[str, Any], snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot object the way production wrote it: the server lists objects at its preferred version, but
    manifests, charts and controllers may write another one (the kubectl last-applied annotation, else the
    version in managedFields, both kept by the snapshot), and that is what must keep working after the upgrade."""
    meta = obj.get("metadata") or {}
    last = (meta.get("annotations") or {}).get(LAST_APPLIED)
    if last:
        try:
            manifest = json.loads(last)
        except ValueError:
            manifest = None
        if isinstance(manifest, dict) and manifest.get("apiVersion") and manifest.get("kind") == obj.get("kind"):
            return {**obj, "apiVersion": manifest["apiVersion"]}
    group, kind, ns, name = key(obj)
    versions = sorted({u.api_version for u in snapshot.api_usage
                       if u.kind == kind and (u.namespace or "") == ns and u.name == name
                       and u.source != "helm-manifest" and key({"apiVersion": u.api_version})[0] == group})
    other = [v for v in versions if v != obj.get("apiVersion")]
    return {**obj, "apiVersion": other[0]} if other else obj


_CLUSTER_SCOPED = {
    "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass",
    "IngressClass", "RuntimeClass", "PodSecurityPolicy", "FlowSchema", "PriorityLevelConfiguration", "APIService",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PersistentVolume", "CSIDriver",
}


def recreate(api_client: Any, snapshot: Snapshot, *, knowledge: Any = None,
             progress: Progress | None = None) -> RecreateResult:
    """Apply the snapshot's objects and Helm records; objects the server cannot take become findings."""
    progress = progress or NullProgress()
    applier = Applier(api_client)
    result = RecreateResult()
    planned = plan_objects(snapshot)
    crds_pending: list[str] = []
    for i, (obj, source) in enumerate(planned, 1):
        if crds_pending and obj.get("kind") != "CustomResourceDefinition":
            progress.update(f"waiting for {len(crds_pending)} CRDs to be Established")
            _wait_crds_established(applier, crds_pending)
            crds_pending = []
        progress.update(f"{i}/{len(planned)} {obj['kind']} {(obj.get('metadata') or {}).get('name')}")
        body = _for_apply(obj)
        ok, err, warnings = applier.apply(body)
        applied: Applied
        if ok:
            applied = Applied(written=obj, applied_version=obj["apiVersion"], source=source, warnings=warnings)
        else:
            applied = _apply_served_version(applier, obj, body, source, err, result, knowledge)
        result.applied.append(applied)
        if ok and obj.get("kind") == "CustomResourceDefinition":
            crds_pending.append(obj["metadata"]["name"])
    if crds_pending:
        _wait_crds_established(applier, crds_pending)
    for rel in snapshot.helm_releases:
        progress.update(f"Helm release record {rel.namespace}/{rel.name} ({rel.chart}-{rel.chart_version})")
        ok, err, _ = applier.apply(helm_storage_object(rel))
        if not ok:
            raise InfraError(f"could not recreate Helm release record {rel.namespace}/{rel.name}: {err}")
        result.helm_records.append(rel)
    return result


def _apply_served_version(
    applier: Applier, obj: dict[str, Any], body: dict[str, Any], source: str, err: str,
    result: RecreateResult, knowledge: Any,
) -> Applied:
    """The object could not be applied as written: if its version is not served, apply the served one."""
    if applier.resource(obj["apiVersion"], obj["kind"]) is not None:
        result.findings.append(Finding(
            severity="warning", kind="recreate-failed", object=ref(obj),
            cause=f"could not be recreated: {err}", fix="check the object against the API of this version"))
        return Applied(written=obj, applied_version=None, source=source, error=err)
    served = applier.preferred_version(obj["apiVersion"], obj["kind"])
    fix = knowledge.fix_for(obj["apiVersion"], obj["kind"]) if knowledge is not None else ""
    result.findings.append(Finding(
        severity="blocker", kind="removed-api", object=ref(obj),
        cause=f"{obj['apiVersion']} {obj['kind']} is not served by the current version (already broken before "
              "the upgrade)",
        fix=fix or (f"rewrite as {served}" if served else "no replacement is served; remove or migrate it")))
    if served is None:
        return Applied(written=obj, applied_version=None, source=source, error=err)
    ok, err2, warnings = applier.apply({**body, "apiVersion": served})
    return Applied(written=obj, applied_version=served if ok else None, source=source, error="" if ok else err2,
                   warnings=warnings)


def objects_of_kind(result: RecreateResult, kinds: Iterable[str]) -> list[Applied]:
    wanted = set(kinds)
    return [a for a in result.ok if a.written.get("kind") in wanted]
