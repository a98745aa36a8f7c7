"""What the upgrade did to what runs: every recreated object read back before and after each hop (one list call
per kind), the fields the new version's defaulting or conversion added, removed or changed (drift), the workloads
it rolled out again (restarts), and custom resources stored at a version that is not the storage version."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.kube import raw_get
from harness.report.model import Finding, ObjectRef

# Fields that change on every write or are the server's bookkeeping, not the object's configuration.
_IGNORED_META = ("resourceVersion", "managedFields", "creationTimestamp", "generation", "uid", "selfLink",
                 "deletionTimestamp")
_IGNORED_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")
_ROLLED = ("Deployment", "StatefulSet", "DaemonSet")
_HELPERS = (("apps", "ReplicaSet"), ("apps", "ControllerRevision"), ("", "Pod"))  # read for restarts only

Key = tuple[str, str]  # (group, kind)
_ANY_ITEM = re.compile(r"\[[^\]]*\]")
_SHOWN = 12  # drift lines listed per kind and hop (the rest counted)


@dataclass
class Reading:
    """The objects of each kind as listed at one moment, by (namespace, name); ``gone``: kinds whose version was
    no longer served."""

    label: str
    objects: dict[Key, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    gone: set[Key] = field(default_factory=set)
    recreated: set[Key] = field(default_factory=set)  # the kinds read because objects of them were recreated


class Readback:
    """Reads the recreated objects back, each kind at the version its group preferred when first read."""

    def __init__(self, api: Any, objects: Iterable[dict[str, Any]], simulated_pods: bool) -> None:
        self.api = api
        self.simulated_pods = simulated_pods
        self.wanted: dict[Key, set[tuple[str, str]]] = {}
        for obj in objects:
            meta = obj.get("metadata") or {}
            key = (str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", "")))
            self.wanted.setdefault(key, set()).add((str(meta.get("namespace") or ""), str(meta.get("name", ""))))
        self.paths: dict[Key, str] = {}  # where each kind is listed (fixed at the first reading)
        self.readings: list[Reading] = []

    def take(self, label: str) -> Reading:
        """One reading of every recreated kind (and what restarts are judged by)."""
        if not self.paths:
            self.paths = self._discover()
        reading = Reading(label, recreated=set(self.wanted))
        kinds = [*self.wanted, *(h for h in _HELPERS if h not in self.wanted)]
        for key in kinds:
            path = self.paths.get(key)
            if path is None or (key[1] == "Pod" and self.simulated_pods and key not in self.wanted):
                continue
            status, body = raw_get(self.api, path, timeout=30)
            if status != 200:
                reading.gone.add(key)
                continue
            names = self.wanted.get(key)
            items = {}
            for item in json.loads(body).get("items") or []:
                meta = item.get("metadata") or {}
                at = (str(meta.get("namespace") or ""), str(meta.get("name", "")))
                if names is None or at in names:
                    items[at] = item
            reading.objects[key] = items
        self.readings.append(reading)
        return reading

    def _discover(self) -> dict[Key, str]:
        """The list path of each kind wanted, at its group's preferred version (one call per group)."""
        status, body = raw_get(self.api, "/apis", timeout=30)
        preferred = {"": "v1"}
        if status == 200:
            for g in json.loads(body).get("groups") or []:
                preferred[g["name"]] = g["preferredVersion"]["groupVersion"]
        groups = {g for g, _ in [*self.wanted, *_HELPERS]}
        out: dict[Key, str] = {}
        for group in sorted(groups):
            gv = preferred.get(group)
            if gv is None:
                continue
            base = "/api/v1" if group == "" else f"/apis/{gv}"
            status, body = raw_get(self.api, base, timeout=30)
            if status != 200:
                continue
            for r in json.loads(body).get("resources") or []:
                if "/" not in r["name"] and "list" in (r.get("verbs") or []):
                    out.setdefault((group, r["kind"]), f"{base}/{r['name']}")
        return out


def drift_findings(readings: list[Reading], hops: list[str]) -> list[Finding]:
    """Per hop and kind, the fields that changed between the reading before the hop and the one after it (an
    info finding each: evidence for a reviewer, not a failure)."""
    out = []
    for hop, (a, b) in zip(hops, itertools.pairwise(readings), strict=False):
        for key, before in a.objects.items():
            if key not in a.recreated:
                continue
            after = b.objects.get(key)
            if after is None:
                continue
            changes: dict[str, set[str]] = {}
            for at, obj in before.items():
                if at in after:
                    for path, what in _diff(_flat(_clean(obj)), _flat(_clean(after[at]))):
                        where = f"{what} {_ANY_ITEM.sub('[*]', path)}"
                        changes.setdefault(where, set()).add("/".join(filter(None, at)))
            if changes:
                objs = set().union(*changes.values())
                shown = sorted(changes.items())[:_SHOWN]
                listed = "; ".join(f"{c} ({len(n)} object{'s' * (len(n) != 1)})" for c, n in shown)
                listed += f"; and {len(changes) - len(shown)} more" if len(changes) > len(shown) else ""
                out.append(Finding("info", "drift", ObjectRef(kind=key[1], name=f"{len(objs)} of {len(before)}"),
                                   f"read back after the hop, {key[1]} objects differ: {listed}",
                                   "none needed by itself: the new version's defaulting or conversion; check that "
                                   "GitOps diffs and admission policies expect these fields", hop=hop))
        for key in sorted(b.gone - a.gone):
            out.append(Finding("info", "drift", ObjectRef(kind=key[1], name="all"),
                               f"{key[1]} is no longer served at the version it was read at before the hop", "",
                               hop=hop))
    return out


def restart_findings(readings: list[Reading], hops: list[str], simulated_pods: bool) -> list[Finding]:
    """A Deployment, StatefulSet or DaemonSet that got a new revision across a hop while its generation (its
    spec as written) stayed the same: the upgrade rolled it out again, with the template fields that changed."""
    out = []
    for hop, (a, b) in zip(hops, itertools.pairwise(readings), strict=False):
        for kind in _ROLLED:
            before, after = a.objects.get(("apps", kind), {}), b.objects.get(("apps", kind), {})
            for at, old in before.items():
                new = after.get(at)
                if new is None:
                    continue
                rev_a, rev_b = _revision(old, a), _revision(new, b)
                same_spec = old["metadata"].get("generation") == new["metadata"].get("generation")
                if rev_a == rev_b or not same_spec:
                    continue
                template = [f"{what} {p}" for p, what in _diff(
                    _flat(old.get("spec", {}).get("template", {}), "spec.template"),
                    _flat(new.get("spec", {}).get("template", {}), "spec.template"))]
                pods = "" if simulated_pods else _pods_replaced(a, b, kind, at)
                out.append(Finding(
                    "warning", "upgrade-restarts", ObjectRef("apps/v1", kind, at[0] or None, at[1]),
                    f"the upgrade restarts {kind} {'/'.join(filter(None, at))}: revision {rev_a} → {rev_b} with no "
                    "change written to it" + (f"; template fields whose defaulted value changed: {', '.join(template)}"
                                              if template else "") + pods,
                    "expect this rollout during the production upgrade (plan its PodDisruptionBudget and surge)",
                    hop=hop, evidence="observed", basis="its controller created the new revision"))
    return out


def storage_findings(reading: Reading) -> list[Finding]:
    """CRDs whose custom resources may be stored at a version that is not the storage version, or deprecated."""
    out = []
    for (_, name), crd in sorted(reading.objects.get(("apiextensions.k8s.io", "CustomResourceDefinition"),
                                                     {}).items()):
        versions = crd.get("spec", {}).get("versions") or []
        storage = next((v["name"] for v in versions if v.get("storage")), "")
        deprecated = {v["name"] for v in versions if v.get("deprecated")}
        stored = list(crd.get("status", {}).get("storedVersions") or [])
        stale = [v for v in stored if v != storage or v in deprecated]
        if stale:
            why = ", ".join(f"{v} ({'deprecated' if v in deprecated else 'not the storage version'})" for v in stale)
            out.append(Finding(
                "warning", "storage-version", ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                                                        name),
                f"custom resources of {name} may be stored at {why}; storedVersions {stored}, storage version "
                f"{storage}", f"migrate them (read and write back every object, e.g. kube-storage-version-migrator) "
                f"and then drop {', '.join(stale)} from status.storedVersions before that version is removed"))
    return out


def _revision(obj: dict[str, Any], reading: Reading) -> str:
    kind = obj.get("kind") or ""
    meta = obj.get("metadata") or {}
    if "deployment.kubernetes.io/revision" in (meta.get("annotations") or {}):
        return str(meta["annotations"]["deployment.kubernetes.io/revision"])
    status = obj.get("status") or {}
    if status.get("updateRevision"):
        return str(status["updateRevision"])
    uid = meta.get("uid")
    revisions = [int(r.get("revision", 0)) for r in reading.objects.get(("apps", "ControllerRevision"), {}).values()
                 if any(o.get("uid") == uid for o in (r.get("metadata") or {}).get("ownerReferences") or [])]
    return str(max(revisions)) if revisions else f"{kind}?"


def _pods_replaced(a: Reading, b: Reading, kind: str, at: tuple[str, str]) -> str:
    def pods(r: Reading) -> dict[str, int]:
        owner = {at[1]}
        if kind == "Deployment":
            owner |= {n for (ns, n), rs in r.objects.get(("apps", "ReplicaSet"), {}).items() if ns == at[0] and any(
                o.get("name") == at[1] for o in rs["metadata"].get("ownerReferences") or [])}
        return {p["metadata"]["uid"]: sum(int(c.get("restartCount", 0))
                                          for c in p.get("status", {}).get("containerStatuses") or [])
                for (ns, _), p in r.objects.get(("", "Pod"), {}).items()
                if ns == at[0] and any(o.get("name") in owner for o in p["metadata"].get("ownerReferences") or [])}
    old, new = pods(a), pods(b)
    replaced = len(set(old) - set(new))
    restarts = sum(max(0, n - old.get(uid, n)) for uid, n in new.items())
    return f"; {replaced} pod{'s' * (replaced != 1)} replaced, {restarts} container restart{'s' * (restarts != 1)}"


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k not in ("status", "apiVersion", "kind")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _IGNORED_META}
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _IGNORED_ANNOTATIONS}
    meta.pop("annotations", None)
    if notes:
        meta["annotations"] = notes
    out["metadata"] = meta
    return out


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"spec.template.spec.containers[app].image": "…"}``: list items by their name where they have one."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flat(v, f"{prefix}[{v.get('name', i)}]"))
        return out
    return {prefix: value}


def _diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(p, "added") for p in b if p not in a]
    out += [(p, "removed") for p in a if p not in b]
    out += [(p, "changed") for p in a if p in b and a[p] != b[p]]
    return sorted(out)
