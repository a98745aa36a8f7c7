"""Recreate a snapshot's add-ons in the rehearsal cluster: server-side apply in dependency order.

Namespaces and CRDs first (waiting until Established), then cluster policy, RBAC and service accounts,
configuration, services, workloads, custom resources, and admission webhooks and APIServices last so that
nothing they intercept is blocked while the rest is applied. Helm releases are recreated from their rendered
manifests plus the release record, so ``helm list`` in the rehearsal cluster shows them at the same versions.

Before anything is applied, the objects are isolated (:func:`harness.isolation.isolate`): no address production
recorded for the control plane to dial (URL webhooks, external Services and endpoints) is kept; each one neutralised
is recorded on its :class:`Applied`.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from harness.apply import Applier, for_apply
from harness.errors import InfraError, InputError
from harness.isolation import NOWHERE, StubEndpoint, isolate
from harness.knowledge import Knowledge
from harness.manifests import LAST_APPLIED, last_applied, parse_documents
from harness.progress import NullProgress, Progress
from harness.report.model import Finding, Neutralised, ObjectRef
from harness.snapshot.model import ApiUsage, HelmRelease, Snapshot, same_object_group, usage_index, written_version

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
    neutralised: list[Neutralised] = field(default_factory=list)  # production endpoints in it, not called here
    unjudged: str = ""  # why the checks about it cannot be judged here ("": judged as usual)


@dataclass
class RecreateResult:
    applied: list[Applied] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    helm_records: list[HelmRelease] = field(default_factory=list)

    @property
    def ok(self) -> list[Applied]:
        return [a for a in self.applied if a.applied_version]

    @property
    def neutralised(self) -> list[Neutralised]:
        """Every production endpoint the recreated objects held and the rehearsal does not call, in apply order."""
        return [n for a in self.applied for n in a.neutralised]


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
    where = f"Helm release {release.namespace}/{release.name}"
    objs = [doc for doc in parse_documents(release.manifest or "", where) if isinstance(doc, dict) and doc.get("kind")]
    for o in objs:
        meta = o.setdefault("metadata", {})
        if "namespace" not in meta and o.get("kind") not in _CLUSTER_SCOPED:
            meta["namespace"] = release.namespace
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


def objects_to_apply(snapshot: Snapshot) -> list[tuple[dict[str, Any], str]]:
    """Every object to recreate with its source, de-duplicated by identity, in apply order."""
    seen: dict[tuple[str, str, str, str], tuple[dict[str, Any], str]] = {}
    index = usage_index(snapshot.api_usage)
    entries: list[tuple[dict[str, Any], str]] = [(as_written(o, snapshot, index), "snapshot") for o in snapshot.objects]
    for rel in snapshot.helm_releases:
        entries += [(o, f"helm:{rel.namespace}/{rel.name}") for o in helm_objects(rel)]
    for obj, src in entries:
        seen.setdefault(key(obj), (obj, src))
    namespaces = {k[2] for k in seen if k[2]}
    for ns in sorted(namespaces):
        if ("", "Namespace", "", ns) not in seen and ns not in ("default", "kube-system", "kube-public"):
            seen[("", "Namespace", "", ns)] = ({"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": ns}}, "implied")
    return sorted(seen.values(), key=lambda e: (apply_rank(e[0]), key(e[0])))


def check_recreatable(snapshot: Snapshot, *, where: str) -> None:
    """Every object the rehearsal would apply (the snapshot's and its Helm releases' manifests) is a Kubernetes
    object: :class:`InputError` naming the first that is not, before any cluster exists."""
    for rel in snapshot.helm_releases:
        origin = f"{where}: Helm release {rel.namespace}/{rel.name}"
        for i, doc in enumerate(parse_documents(rel.manifest or "", origin), 1):
            if doc is not None and not isinstance(doc, dict):
                raise InputError(f"{origin}: manifest document {i} is {type(doc).__name__}, not an object")
            if isinstance(doc, dict) and not isinstance(doc.get("metadata") or {}, dict):
                raise InputError(f"{origin}: manifest document {i} has a metadata that is not an object")
    for obj, source in objects_to_apply(snapshot):
        meta = obj.get("metadata")
        problem = ("no apiVersion" if not isinstance(obj.get("apiVersion"), str) or not obj["apiVersion"] else
                   "no metadata.name" if not isinstance(meta, dict) or not isinstance(meta.get("name"), str)
                   or not meta["name"] else "")
        if problem:
            origin = where if source in ("snapshot", "implied") else f"{where}: {source.replace(':', ' release ', 1)}"
            raise InputError(f"{origin}: {obj.get('kind')} object has {problem}")


def as_written(obj: dict[str, Any], snapshot: Snapshot,
               index: dict[tuple[str, str, str], list[ApiUsage]] | None = None) -> dict[str, Any]:
    """A snapshot object the way production wrote it: the server lists objects at its preferred version, but
    manifests, charts and controllers may write another one. The snapshot keeps every version its writers of record
    used (``api_usage``) and :func:`~harness.snapshot.model.written_version` picks the most recent write's: that is
    what must keep working after the upgrade. Without any record, the object's own last-applied annotation.

    Versions of a kind may differ in shape (autoscaling/v1 and v2), so when the last-applied annotation holds the
    object at the version it was written with, that manifest is the object as written; otherwise the object as read
    with the written apiVersion. ``index`` is :func:`~harness.snapshot.model.usage_index` of the snapshot."""
    meta = obj.get("metadata") or {}
    uses = (index if index is not None else usage_index(snapshot.api_usage)).get(
        (str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", ""))), [])
    read_as = str(obj.get("apiVersion", ""))
    version = written_version(uses, read_as)
    manifest = last_applied(obj)
    if manifest is None or manifest.get("kind") != obj.get("kind") or not isinstance(manifest.get("apiVersion"), str) \
            or not same_object_group(manifest["apiVersion"], read_as):
        manifest = None
    elif not uses:
        version = manifest["apiVersion"]
    if version == read_as:
        return obj
    if manifest is None or manifest["apiVersion"] != version or not isinstance(manifest.get("metadata"), dict):
        return {**obj, "apiVersion": version}
    written = dict(manifest)
    written["metadata"] = {**manifest["metadata"], "name": meta.get("name"),
                           "annotations": {**(manifest["metadata"].get("annotations") or {}),
                                           LAST_APPLIED: meta["annotations"][LAST_APPLIED]}}
    if meta.get("namespace"):
        written["metadata"]["namespace"] = meta["namespace"]
    return written


_CLUSTER_SCOPED = {
    "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass",
    "IngressClass", "RuntimeClass", "PodSecurityPolicy", "FlowSchema", "PriorityLevelConfiguration", "APIService",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PersistentVolume", "CSIDriver",
}


def recreate(api_client: Any, snapshot: Snapshot, *, knowledge: Knowledge | None = None,
             progress: Progress | None = None, stub: StubEndpoint = NOWHERE) -> RecreateResult:
    """Apply the snapshot's objects and Helm records; objects the server cannot take become findings.

    Webhooks production addressed outside the cluster are pointed at ``stub`` (the rehearsal's stand-in; without
    one, at a port nothing listens on)."""
    progress = progress or NullProgress()
    applier = Applier(api_client)
    result = RecreateResult()
    planned = objects_to_apply(snapshot)
    isolated = isolate([obj for obj, _ in planned], stub)
    crds_pending: list[str] = []
    for i, ((obj, source), iso) in enumerate(zip(planned, isolated, strict=True), 1):
        if crds_pending and obj.get("kind") != "CustomResourceDefinition":
            progress.update(f"waiting for {len(crds_pending)} CRDs to be Established")
            _wait_crds_established(applier, crds_pending)
            crds_pending = []
        progress.update(f"{i}/{len(planned)} {obj['kind']} {(obj.get('metadata') or {}).get('name')}")
        applied: Applied
        if iso.body is None:  # nothing in the rehearsal could serve it: not recreated, and the record says why
            why = "; ".join(f"{n.reason} ({n.field}: {n.host})" for n in iso.records)
            result.applied.append(Applied(written=obj, applied_version=None, source=source, error=why,
                                          neutralised=iso.records, unjudged=iso.unjudged))
            continue
        body = for_apply(iso.body)
        ok, err, warnings = applier.apply(body)
        if ok:
            applied = Applied(written=obj, applied_version=obj["apiVersion"], source=source, warnings=warnings)
        else:
            applied = _apply_served_version(applier, obj, body, source, err, result, knowledge)
        applied.neutralised, applied.unjudged = iso.records, iso.unjudged
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
    result: RecreateResult, knowledge: Knowledge | None,
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

