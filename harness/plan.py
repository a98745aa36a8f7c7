"""Static analysis of an upgrade, in seconds and without a cluster: ``rehearse plan``.

:func:`plan` walks the hops from ``source`` to ``target`` and reports, with the same finding shape as a rehearsal
(object, cause, fix), every object that uses an API a hop removes (snapshot objects and the API versions they were
last written with, Helm releases' rendered manifests, manifest files and GitOps directories), every API still
served but deprecated at the target, control-plane flags, feature gates and admission plugins a hop removes, Helm
charts whose ``kubeVersion`` excludes a hop, add-on versions whose maintainers do not support a hop, and
kubelets left further behind than the version skew policy allows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError
from harness.knowledge import AddonSupport, Knowledge, RemovedApi, addon_release
from harness.knowledge.semver import satisfies
from harness.report.model import Finding, ObjectRef, Phase, Report, verdict_of
from harness.snapshot.model import HelmRelease, Snapshot
from harness.versions import Version, catalogue

__all__ = ["LAST_APPLIED", "MANIFEST_SUFFIXES", "kubelet_skew_allowed", "plan"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MANIFEST_SUFFIXES = (".yaml", ".yml")
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# The C loader when PyYAML was built with libyaml: several times faster than the pure-Python one.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SEVERITY_ORDER = {"blocker": 0, "warning": 1, "info": 2}


def kubelet_skew_allowed(control_plane: Version) -> int:
    """How many minors a kubelet may trail kube-apiserver ``control_plane``: 3 since 1.28, 2 before."""
    return 3 if (control_plane.major, control_plane.minor) >= (1, 28) else 2


@dataclass(frozen=True)
class _Hop:
    label: str  # "1.24.17→1.25.16"
    version: Version


@dataclass
class _Planner:
    """The state of one plan: the hops, the knowledge as lookup tables, what was found."""

    source: Version
    target: Version
    hops: list[_Hop]
    knowledge: Knowledge
    admission_plugins: Mapping[str, str]
    findings: list[tuple[tuple[Any, ...], Finding]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seen: set[tuple[str, ...]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {"objects": 0, "files": 0})

    def __post_init__(self) -> None:
        self.removed: dict[tuple[str, str], RemovedApi] = {
            (a.group_version, a.kind): a for a in self.knowledge.apis.values()}
        self.by_minor = {(h.version.major, h.version.minor): (i, h) for i, h in enumerate(self.hops)}
        self.source_minor = (self.source.major, self.source.minor)
        self.target_minor = (self.target.major, self.target.minor)

    # ---- findings ------------------------------------------------------------------------------------------
    def add(self, finding: Finding, order: tuple[Any, ...] = ()) -> None:
        hop_index = next((i for i, h in enumerate(self.hops) if h.label == finding.hop), len(self.hops))
        self.findings.append(((_SEVERITY_ORDER[finding.severity], hop_index, finding.kind, *order), finding))

    def hop_of(self, minor: tuple[int, int]) -> _Hop | None:
        entry = self.by_minor.get(minor)
        return entry[1] if entry else None

    # ---- objects -------------------------------------------------------------------------------------------
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
        ref = ObjectRef(apiVersion=api.group_version, kind=api.kind, namespace=namespace, name=name)
        fix = self.knowledge.fix_for(api.group_version, api.kind) + fix_extra
        what = f"{api.group_version} {api.kind}"
        removed = api.removed_minor
        if removed <= self.source_minor:
            self.add(Finding(
                severity="warning", kind="removed-api", object=ref,
                cause=f"{what} was removed in {api.removed_in}, before {self.source}: as written in {where}, the "
                      "object cannot be applied, before or after the upgrade", fix=fix), order)
        elif removed <= self.target_minor:
            hop = self.hop_of(removed)
            label = hop.label if hop else None
            self.add(Finding(
                severity="blocker", kind="removed-api", object=ref,
                cause=f"{what} is no longer served from {api.removed_in} on (hop {label}); used in {where}",
                fix=fix, hop=label), order)
        elif api.deprecated_minor <= self.target_minor:
            self.add(Finding(
                severity="warning", kind="deprecated-api", object=ref,
                cause=f"{what} is deprecated since {api.deprecated_in} and removed in {api.removed_in}; "
                      f"{self.target} still serves it; used in {where}", fix=fix), order)

    def documents(self, docs: Iterable[Any], where: Callable[[int], str], origin: str, order: tuple[Any, ...],
                  fix_extra: str = "") -> None:
        """Every object of parsed YAML documents (``List`` kinds flattened)."""
        removed = self.removed
        for i, doc in enumerate(docs):
            if type(doc) is not dict:
                continue
            self.counts["objects"] += 1
            gv, kind = doc.get("apiVersion"), doc.get("kind")
            if type(gv) is not str or type(kind) is not str:
                continue  # not a Kubernetes object (values files, Chart.yaml, …)
            if (gv, kind) in removed:
                self.object(doc, where(i), origin, (*order, i), fix_extra)
            elif kind.endswith("List") and isinstance(doc.get("items"), list):
                for j, item in enumerate(doc["items"]):
                    if type(item) is not dict:
                        continue
                    igv, ikind = item.get("apiVersion"), item.get("kind")
                    if type(igv) is str and type(ikind) is str and (igv, ikind) in removed:
                        self.object(item, f"{where(i)}, list item {j + 1}", origin, (*order, i, j), fix_extra)

    # ---- snapshot ------------------------------------------------------------------------------------------
    def snapshot(self, snap: Snapshot) -> None:
        for r in snap.helm_releases:
            self.helm_release(r)
        for i, obj in enumerate(snap.objects):
            if not isinstance(obj, dict):
                continue
            self.counts["objects"] += 1
            written = _last_applied_version(obj)  # what the user applies, rather than what the API returned
            where = "the snapshot" + (" (its last kubectl apply)" if written else "")
            self.object(obj, where, "snapshot", ("snapshot", i), api_version=written)
        for i, use in enumerate(snap.api_usage):
            api = self.removed.get((use.api_version, use.kind))
            if api is not None:
                self.api(api, namespace=use.namespace, name=use.name, origin="snapshot", order=("usage", i),
                         where=f"the snapshot (last written as {use.api_version}, per {use.source})")
        self.control_plane(snap)
        self.kubelets(snap)
        self.addons(snap)

    def helm_release(self, r: HelmRelease) -> None:
        release = f"Helm release {r.namespace}/{r.name} (chart {r.chart}-{r.chart_version})"
        if r.manifest:
            try:
                docs = list(yaml.load_all(r.manifest, Loader=_LOADER))
            except yaml.YAMLError as e:
                self.notes.append(f"{release}: rendered manifest not readable as YAML, not checked ({_problem(e)})")
                docs = []
            extra = (f" The object comes from {release}: fix the chart (or upgrade to a chart version that has), "
                     "then helm upgrade. Once the API is gone, Helm cannot upgrade a release whose stored manifest "
                     "still uses it: upgrade the release before the cluster, or rewrite the stored manifest "
                     "with the helm-mapkubeapis plugin.")
            self.documents(docs, lambda i: f"{release}, manifest document {i + 1}",
                           "snapshot", ("helm", r.namespace, r.name), extra)
        if r.kube_version:
            ref = ObjectRef(apiVersion="helm.sh/v3", kind="HelmRelease", namespace=r.namespace, name=r.name)
            self.kube_version(r.kube_version, ref, f"chart {r.chart}-{r.chart_version}", f"release {r.name}",
                              ("helm", r.namespace, r.name))

    def kube_version(self, constraint: str, ref: ObjectRef, chart: str, what: str, order: tuple[Any, ...]) -> None:
        """A chart's ``kubeVersion`` against each hop: the first hop it excludes is a blocker."""
        for hop in self.hops:
            try:
                ok = satisfies(constraint, hop.version.tag)
            except InputError as e:
                self.add(Finding(
                    severity="warning", kind="addon-incompatible", object=ref,
                    cause=f"{chart} declares kubeVersion '{constraint}', which cannot be read ({e}); Helm treats "
                          f"it as incompatible", fix=f"fix the kubeVersion of {chart}"), order)
                return
            if not ok:
                self.add(Finding(
                    severity="blocker", kind="addon-incompatible", object=ref,
                    cause=f"{chart} declares kubeVersion '{constraint}', which {hop.version.tag} does not "
                          f"satisfy (hop {hop.label}): helm will refuse to install or upgrade {what} there",
                    fix=f"upgrade to a version of the chart whose kubeVersion admits {hop.version.minor_key} "
                        f"before upgrading the cluster to {hop.version.minor_key}", hop=hop.label), order)
                return

    def addons(self, snap: Snapshot) -> None:
        """Add-ons whose version line its maintainers do not support at a hop (``addons.yaml``)."""
        unknown: set[str] = set()
        for addon in snap.addons:
            if addon_release(addon.version) is None:
                if addon.name in self.knowledge.addons:
                    self.notes.append(f"{addon.name} in {addon.namespace or 'the cluster'}: version "
                                      f"{addon.version or 'unknown'} not readable, compatibility not checked")
                continue
            line = self.knowledge.addon_support(addon.name, addon.version)
            if line is None:
                if addon.name in self.knowledge.addons:
                    self.notes.append(f"{addon.name} {addon.version}: outside the version lines the compatibility "
                                      "table knows, not checked")
                else:
                    unknown.add(addon.name)
                continue
            for hop in self.hops:
                if line.supports(hop.version.major, hop.version.minor):
                    continue
                self.add(Finding(
                    severity="blocker", kind="addon-unsupported",
                    object=ObjectRef(kind="Addon", namespace=addon.namespace or None,
                                     name=f"{addon.name} {addon.version}"),
                    cause=f"{addon.name} {line.versions} supports Kubernetes {line.range_text} (source: "
                          f"{line.source}); hop {hop.label} takes the cluster to {hop.version.minor_key}"
                          + (f" (note: {line.note})" if line.note else ""),
                    fix=self.addon_fix(addon.name, hop.version), hop=hop.label),
                    ("addon", addon.name, addon.namespace))
                break
        if unknown:
            self.notes.append("no compatibility data for add-on" + ("s " if len(unknown) > 1 else " ")
                              + ", ".join(sorted(unknown)) + " (add entries with --knowledge DIR/addons.yaml)")

    def addon_fix(self, name: str, hop: Version) -> str:
        """Which version lines to move ``name`` to: one supported both now and at ``hop`` when there is one."""
        lines = self.knowledge.addons.get(name, ())
        at_hop = [ln for ln in lines if ln.supports(hop.major, hop.minor)]
        both = [ln for ln in at_hop if ln.supports(self.source.major, self.source.minor)]
        if both:
            shown = ", ".join(f"{ln.versions} ({ln.range_text})" for ln in _newest_first(both)[:3])
            return (f"upgrade {name} to a version supported on both {self.source.minor_key} and "
                    f"{hop.minor_key} — {shown} — before upgrading the control plane")
        if at_hop:
            shown = ", ".join(f"{ln.versions} ({ln.range_text})" for ln in _newest_first(at_hop)[:3])
            return (f"no {name} version is known to support both {self.source.minor_key} and {hop.minor_key}: "
                    f"upgrade it in step with the control plane to {shown}")
        return f"no {name} version is known to support {hop.minor_key}: ask its maintainers before upgrading"

    def control_plane(self, snap: Snapshot) -> None:
        cp = snap.control_plane
        args = {"kube-apiserver": cp.apiserver_args, "kube-controller-manager": cp.controller_manager_args,
                "kube-scheduler": cp.scheduler_args}
        gates: dict[str, list[str]] = {g: list(CONTROL_PLANE) for g in cp.feature_gates}
        for comp, values in args.items():
            for arg in values:
                name, _, value = arg.lstrip("-").partition("=")
                if name == "feature-gates":
                    for pair in value.split(","):
                        gate = pair.split("=", 1)[0].strip()
                        if gate and comp not in gates.setdefault(gate, []):
                            gates[gate].append(comp)
                    continue
                opt = self.knowledge.removed_flag(comp, name)
                if opt is None or not self.source_minor < opt.removed_minor <= self.target_minor:
                    continue
                hop = self.hop_of(opt.removed_minor)
                self.add(Finding(
                    severity="blocker", kind="removed-flag",
                    object=ObjectRef(apiVersion=comp, kind="Flag", name=f"--{name}"),
                    cause=f"{comp} {opt.removed_in} no longer accepts --{name} and refuses to start with it "
                          f"(hop {hop.label if hop else '?'})",
                    fix=opt.fix(), hop=hop.label if hop else None), ("flag", comp, name))
        for gate, comps in sorted(gates.items()):
            opt = next((o for c in comps if (o := self.knowledge.removed_gate(c, gate)) is not None), None)
            if opt is None or not self.source_minor < opt.removed_minor <= self.target_minor:
                continue
            hop = self.hop_of(opt.removed_minor)
            self.add(Finding(
                severity="blocker", kind="removed-feature-gate",
                object=ObjectRef(apiVersion=",".join(comps), kind="FeatureGate", name=gate),
                cause=f"{opt.removed_in} no longer knows feature gate {gate}: {', '.join(comps)} refuse to start "
                      f"with --feature-gates={gate}=… (hop {hop.label if hop else '?'})",
                fix=opt.fix(), hop=hop.label if hop else None), ("gate", gate))
        for plugin in cp.admission_plugins:
            removed_in = self.admission_plugins.get(plugin)
            if removed_in is None:
                continue
            minor = _minor(removed_in)
            if not self.source_minor < minor <= self.target_minor:
                continue
            hop = self.hop_of(minor)
            fix = f"remove {plugin} from --enable-admission-plugins of kube-apiserver before upgrading to {removed_in}"
            if plugin == "PodSecurityPolicy":
                fix += "; enforce pod security with Pod Security Admission (namespace labels) or a policy engine first"
            self.add(Finding(
                severity="blocker", kind="removed-admission-plugin",
                object=ObjectRef(apiVersion="kube-apiserver", kind="AdmissionPlugin", name=plugin),
                cause=f"kube-apiserver {removed_in} no longer has admission plugin {plugin} and refuses to start "
                      f"with it enabled (hop {hop.label if hop else '?'})", fix=fix,
                hop=hop.label if hop else None), ("plugin", plugin))

    def kubelets(self, snap: Snapshot) -> None:
        """Nodes whose kubelet a hop's control plane would leave further behind than the skew policy allows."""
        by_version: dict[tuple[int, int], list[str]] = {}
        unreadable = []
        for node in snap.nodes:
            minor = _kubelet_minor(node.kubelet_version)
            if minor is None:
                unreadable.append(node.name)
            else:
                by_version.setdefault(minor, []).append(node.name)
        if unreadable:
            self.notes.append(f"kubelet version not readable on {', '.join(unreadable)}: skew not checked there")
        for minor, names in sorted(by_version.items()):
            for hop in self.hops:
                allowed = kubelet_skew_allowed(hop.version)
                behind = hop.version.minor - minor[1] if hop.version.major == minor[0] else 0
                if behind <= allowed:
                    continue
                shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                oldest_ok = f"{hop.version.major}.{hop.version.minor - allowed}"
                self.add(Finding(
                    severity="blocker", kind="kubelet-skew",
                    object=ObjectRef(apiVersion="v1", kind="Node", name=shown),
                    cause=f"kubelet {minor[0]}.{minor[1]} on {len(names)} node{'s' if len(names) > 1 else ''} "
                          f"would trail kube-apiserver {hop.version} by {behind} minors (hop {hop.label}); the "
                          f"version skew policy allows {allowed}",
                    fix=f"upgrade these nodes' kubelets to {oldest_ok} or later before the control plane reaches "
                        f"{hop.version.minor_key}, or upgrade the nodes at every hop rather than at the end",
                    hop=hop.label), ("kubelet", minor))
                break

    # ---- manifest files ------------------------------------------------------------------------------------
    def manifests(self, path: Path) -> None:
        files, skipped = _manifest_files(path)
        for chart, count, kube_version in skipped:
            self.notes.append(f"{chart}: Helm chart, {count} template file{'s' if count != 1 else ''} under "
                              f"{chart / 'templates'} left out (render them with `helm template` and plan the output)")
            if kube_version:
                ref = ObjectRef(apiVersion="helm.sh/v3", kind="Chart", name=str(chart))
                self.kube_version(kube_version, ref, f"chart {chart}", f"chart {chart}", ("chart", str(chart)))
        for f in files:
            self.file(f)

    def file(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
        self.counts["files"] += 1
        try:
            docs = list(yaml.load_all(data, Loader=_LOADER))
        except yaml.YAMLError as e:
            if b"{{" in data:
                self.notes.append(f"{path}: not YAML as written (a template: {{{{ }}}}), left out")
                return
            raise InputError(f"{path}: not valid YAML ({_problem(e)})") from e
        where = str(path)
        self.documents(docs, lambda i: f"{where} (document {i + 1})" if len(docs) > 1 else where, where,
                       ("file", where))


def _newest_first(lines: Sequence[AddonSupport]) -> list[AddonSupport]:
    """Version lines ordered by the highest Kubernetes minor they support (unbounded first)."""
    return sorted(lines, key=lambda ln: (0, 0) if ln.max_minor is None else (-_minor(ln.max_minor)[0],
                                                                             -_minor(ln.max_minor)[1]))


def _problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    line = f"line {mark.line + 1}: " if mark is not None else ""
    return f"{line}{getattr(e, 'problem', None) or e}"


def _minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def _kubelet_minor(version: str) -> tuple[int, int] | None:
    try:
        return _minor(version.strip().lstrip("v"))
    except ValueError:
        return None


def _last_applied_version(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    value = body.get("apiVersion") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _chart_kube_version(chart_dir: Path) -> str:
    try:
        doc = yaml.load((chart_dir / "Chart.yaml").read_bytes(), Loader=_LOADER)
    except (OSError, yaml.YAMLError):
        return ""
    value = doc.get("kubeVersion") if isinstance(doc, dict) else None
    return str(value) if value else ""


def _in_chart_templates(path: Path) -> bool:
    """Whether ``path`` lies under ``templates/`` of a directory holding ``Chart.yaml``."""
    for parent in path.absolute().parents:
        if parent.name == "templates" and (parent.parent / "Chart.yaml").is_file():
            return True
    return False


def _manifest_files(path: Path) -> tuple[list[Path], list[tuple[Path, int, str]]]:
    """The YAML files to read under ``path`` (sorted, hidden directories left out) and the Helm charts whose
    templates were left out: (chart directory, number of template files, its kubeVersion)."""
    if path.is_file():
        return ([] if _in_chart_templates(path) else [path]), []
    if not path.is_dir():
        raise InputError(f"manifest path {path} does not exist")
    files: list[Path] = []
    charts: list[tuple[Path, int, str]] = []
    for root, dirs, names in _walk(path):
        directory = Path(root)
        if "Chart.yaml" in names and "templates" in dirs:
            dirs.remove("templates")
            count = sum(1 for _, _, ts in os.walk(directory / "templates") for t in ts
                        if t.endswith(MANIFEST_SUFFIXES) or t.endswith(".tpl"))
            charts.append((directory, count, _chart_kube_version(directory)))
        files += [directory / n for n in sorted(names) if n.endswith(MANIFEST_SUFFIXES)]
    return files, charts


def _walk(path: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    for root, dirs, names in os.walk(path, onerror=_walk_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield root, dirs, names


def _walk_error(e: OSError) -> None:
    raise InputError(f"{e.filename}: cannot read ({e.strerror or e})")


def plan(source: Version, target: Version, *, snapshot: Snapshot | None, manifest_paths: Sequence[Path],
         knowledge: Knowledge, admission_plugins: Mapping[str, str] | None = None) -> Report:
    """The findings of an upgrade from ``source`` to ``target``, from knowledge alone (no cluster).

    ``admission_plugins`` maps a removed admission plugin to the minor that removed it (default: the generated
    knowledge). Raises :class:`InputError` for a downgrade, an unreadable or malformed manifest file.
    """
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.monotonic()
    versions = catalogue().hops(source, target)
    hops, previous = [], source
    for v in versions:
        hops.append(_Hop(f"{previous}→{v}", v))
        previous = v
    if admission_plugins is None:
        from harness.knowledge.generate import removed_admission_plugins

        admission_plugins = removed_admission_plugins()
    planner = _Planner(source, target, hops, knowledge, admission_plugins)
    if snapshot is not None:
        planner.snapshot(snapshot)
    for p in manifest_paths:
        planner.manifests(Path(p))
    findings = [f for _, f in sorted(planner.findings, key=lambda pair: _sort_key(pair[0]))]
    seconds = time.monotonic() - t0
    blockers = sum(f.severity == "blocker" for f in findings)
    phase = Phase(name="plan", status="ok", seconds=round(seconds, 3),
                  message=f"{blockers} blocker{'s' if blockers != 1 else ''}, {len(findings) - blockers} other "
                          f"finding{'s' if len(findings) - blockers != 1 else ''}",
                  details={**planner.counts, "helm_releases": len(snapshot.helm_releases) if snapshot else 0,
                           "nodes": len(snapshot.nodes) if snapshot else 0})
    report = Report(from_version=str(source), to_version=str(target), hops=[str(v) for v in versions],
                    provider="none", verdict="pass", started=started, seconds=round(seconds, 3), phases=[phase],
                    findings=findings, notes=planner.notes)
    report.verdict = verdict_of(report)
    return report


def _sort_key(order: tuple[Any, ...]) -> tuple[str, ...]:
    """Orders of mixed types (ints, strings, tuples) compared as text with zero-padded numbers."""
    return tuple(f"{v:09d}" if isinstance(v, int) else str(v) for v in order)
