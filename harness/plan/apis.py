"""Objects that use an API a hop removes (a blocker), that was gone before the source (a warning), or that the
target still serves but deprecates (a warning): snapshot objects and the API versions they were last written
with, Helm releases' rendered manifests, and manifest files."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.knowledge import RemovedApi
from harness.manifests import NotYaml, last_applied, list_items, parse_documents
from harness.plan._base import PlanState
from harness.plan._prescan import read_needed
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import HelmRelease, Snapshot

_HELM_FIX = (" The object comes from {release}: fix the chart (or upgrade to a chart version that has), then helm "
             "upgrade. Once the API is gone, Helm cannot upgrade a release whose stored manifest still uses it: "
             "upgrade the release before the cluster, or rewrite the stored manifest with the helm-mapkubeapis "
             "plugin.")


class RemovedApis:
    """The removed-API rule of one plan: the removed APIs as a lookup table, and the objects already judged."""

    def __init__(self, state: PlanState) -> None:
        self.state = state
        self.removed: dict[tuple[str, str], RemovedApi] = {
            (a.group_version, a.kind): a for a in state.knowledge.apis.values()}
        self.seen: set[tuple[str, ...]] = set()

    # ---- one object ----------------------------------------------------------------------------------------
    def object(self, obj: Mapping[str, Any], where: str, origin: str, order: tuple[Any, ...],
               fix_extra: str = "", api_version: str | None = None) -> None:
        """Judge one object (``api_version`` overrides the one it carries, e.g. from last-applied)."""
        gv = api_version if api_version is not None else obj.get("apiVersion")
        kind = obj.get("kind")
        api = self.removed.get((gv, kind)) if isinstance(gv, str) and isinstance(kind, str) else None
        if api is None:
            return
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name = str(meta.get("name") or meta.get("generateName") or "")
        namespace = meta.get("namespace")
        self.api(api, namespace=str(namespace) if namespace else None, name=name, where=where, origin=origin,
                 order=order, fix_extra=fix_extra)

    def api(self, api: RemovedApi, *, namespace: str | None, name: str, where: str, origin: str,
            order: tuple[Any, ...], fix_extra: str = "") -> None:
        """The finding for an object of a removed (or deprecated) API, once per origin and object."""
        key = (origin, api.group_version, api.kind, namespace or "", name)
        if key in self.seen:
            return
        self.seen.add(key)
        state = self.state
        ref = ObjectRef(apiVersion=api.group_version, kind=api.kind, namespace=namespace, name=name)
        fix = state.knowledge.fix_for(api.group_version, api.kind) + fix_extra
        if api.note:
            fix += f" ({api.note})"
        what = f"{api.group_version} {api.kind}"
        removed = api.removed_minor
        if removed <= state.source_minor:
            state.add(Finding(
                severity="warning", kind="removed-api", object=ref,
                cause=f"{what} was removed in {api.removed_in}, before {state.source}: as written in {where}, the "
                      "object cannot be applied, before or after the upgrade", fix=fix), order)
        elif removed <= state.target_minor:
            label = state.hop_label(removed)
            state.add(Finding(
                severity="blocker", kind="removed-api", object=ref,
                cause=f"{what} is no longer served from {api.removed_in} on (hop {label}); used in {where}",
                fix=fix, hop=label), order)
        elif api.deprecated_minor <= state.target_minor:
            state.add(Finding(
                severity="warning", kind="deprecated-api", object=ref,
                cause=f"{what} is deprecated since {api.deprecated_in} and removed in {api.removed_in}; "
                      f"{state.target} still serves it; used in {where}", fix=fix), order)

    def documents(self, docs: Iterable[Any], where: Callable[[int], str], origin: str, order: tuple[Any, ...],
                  fix_extra: str = "") -> None:
        """Every object of parsed YAML documents (``List`` kinds flattened)."""
        removed = self.removed
        for i, doc in enumerate(docs):
            if type(doc) is not dict:
                continue
            self.state.counts["objects"] += 1
            gv, kind = doc.get("apiVersion"), doc.get("kind")
            if type(gv) is not str or type(kind) is not str:
                continue  # not a Kubernetes object (values files, Chart.yaml, …)
            if (gv, kind) in removed:
                self.object(doc, where(i), origin, (*order, i), fix_extra)
                continue
            for j, item in enumerate(list_items(doc) or ()):
                if type(item) is not dict:
                    continue
                igv, ikind = item.get("apiVersion"), item.get("kind")
                if type(igv) is str and type(ikind) is str and (igv, ikind) in removed:
                    self.object(item, f"{where(i)}, list item {j + 1}", origin, (*order, i, j), fix_extra)

    # ---- where objects come from ---------------------------------------------------------------------------
    def snapshot(self, snap: Snapshot) -> None:
        """The snapshot's Helm release manifests, its objects (as last written) and its recorded API usage."""
        for r in snap.helm_releases:
            self.helm_release(r)
        for i, obj in enumerate(snap.objects):
            if not isinstance(obj, dict):
                continue
            self.state.counts["objects"] += 1
            written = _last_applied_version(obj)  # what the user applies, rather than what the API returned
            where = "the snapshot" + (" (its last kubectl apply)" if written else "")
            self.object(obj, where, "snapshot", ("snapshot", i), api_version=written)
        for i, use in enumerate(snap.api_usage):
            api = self.removed.get((use.api_version, use.kind))
            if api is not None:
                self.api(api, namespace=use.namespace, name=use.name, origin="snapshot", order=("usage", i),
                         where=f"the snapshot (last written as {use.api_version}, per {use.source})")

    def helm_release(self, r: HelmRelease) -> None:
        """The objects of a release's rendered manifest."""
        if not r.manifest:
            return
        release = f"Helm release {r.namespace}/{r.name} (chart {r.chart}-{r.chart_version})"
        try:
            docs = parse_documents(r.manifest, release)
        except NotYaml as e:
            self.state.notes.append(f"{release}: rendered manifest not readable as YAML, not checked ({e.problem})")
            docs = []
        self.documents(docs, lambda i: f"{release}, manifest document {i + 1}", "snapshot",
                       ("helm", r.namespace, r.name), _HELM_FIX.format(release=release))

    def file(self, path: Path) -> None:
        """The objects of one manifest file (a template that is not YAML as written is left out with a note)."""
        self.state.counts["files"] += 1
        try:
            docs = read_needed(path, self.removed)  # the documents no rule reads stand as {}
        except NotYaml as e:
            if not e.template:
                raise
            self.state.notes.append(f"{path}: not YAML as written (a template: {{{{ }}}}), left out")
            return
        where = str(path)
        self.documents(docs, lambda i: f"{where} (document {i + 1})" if len(docs) > 1 else where, where,
                       ("file", where))


def _last_applied_version(obj: Mapping[str, Any]) -> str | None:
    body = last_applied(obj)
    value = body.get("apiVersion") if body is not None else None
    return value if isinstance(value, str) else None
