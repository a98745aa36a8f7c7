"""The rehearsal pipeline: plan, prepare, provision at X, recreate, check, upgrade hop by hop, check again, report.

Each stage is its own module; this one only sequences them over one state object: an ordered list of small
stages, one loop that times each phase, and a cleanup that always runs (kinder's ``force: true``, chainsaw's
``finally``) unless the user asked to keep the cluster.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.binaries import ensure
from harness.checks import Check, CheckContext, CheckRun, builtin_checks, run_checks, scenario_checks
from harness.errors import InfraError, RehearseError
from harness.isolation import Stub
from harness.knowledge import Knowledge
from harness.kube import api_client
from harness.observe import Watch
from harness.plan import plan
from harness.progress import NullProgress, Progress
from harness.providers.base import Cluster, Provider
from harness.provision import PreparedVersions, cluster_options, prepare_versions
from harness.recreate import RecreateResult, recreate, ref
from harness.report.model import (
    CheckOutcome,
    CheckResult,
    Coverage,
    Finding,
    NotRecreated,
    ObjectRef,
    Phase,
    Report,
    Safety,
    classify,
    evidence_of,
    verdict_of,
)
from harness.scenario import CheckSpec
from harness.snapshot.model import Snapshot
from harness.upgrade import upgrade_hop
from harness.versions import Version

_HOST_TOOLS = ("helm",)  # helm lists the recreated releases (whatever the provider)


@dataclass
class RehearsalSpec:
    """What to rehearse: ``hops`` are the versions to upgrade through, ending at ``target``."""

    source: Version
    target: Version
    hops: list[Version]
    snapshot: Snapshot
    provider: Provider
    checks: list[CheckSpec] = field(default_factory=list)
    scenario: str | None = None
    scenario_base: Path | None = None
    name: str | None = None
    keep: bool = False
    report_dir: Path = Path("rehearse-report")
    apiserver_args: list[str] = field(default_factory=list)
    allow_egress: list[str] = field(default_factory=list)  # address ranges pods may reach outside the cluster
    knowledge: Knowledge | None = None
    cluster_name: str = field(default_factory=lambda: f"rehearse-{uuid.uuid4().hex[:6]}")
    # called with the finished report before the cluster is deleted, and again if the cleanup adds to it
    write: Callable[[Report], None] | None = None


@dataclass
class _State:
    """What the stages hand forward: each reads what the stages before it left here."""

    spec: RehearsalSpec
    progress: Progress
    report: Report
    phase: Phase = field(init=False)  # the phase being recorded
    cleanups: list[Callable[[], None]] = field(default_factory=list)  # run in reverse when the rehearsal ends
    plan_findings: list[Finding] = field(default_factory=list)  # plan
    versions: PreparedVersions = field(init=False)  # prepare: the exact versions that run
    helm: Path = field(init=False)  # prepare
    cluster: Cluster = field(init=False)  # provision
    api: Any = None  # recreate: a client of the cluster
    recreated: RecreateResult | None = None  # recreate
    checks: list[Check] = field(default_factory=list)  # recreate: for what was recreated, and the scenario's
    before: dict[str, CheckRun] = field(default_factory=dict)  # check-before
    downtime: float = 0.0  # upgrade: seconds the API was down, over the hops so far
    failure: str | None = None  # upgrade: why it stopped, None while every hop completes
    after: dict[str, CheckRun] = field(default_factory=dict)  # check-after
    watch: Watch | None = None  # recreate: the audit log and the objects, read after each phase from then on


_Stage = Callable[[_State], None]


class _Phases:
    """Records each phase's status and time into the report."""

    def __init__(self, report: Report, progress: Progress) -> None:
        self.report, self.progress = report, progress

    @contextlib.contextmanager
    def phase(self, name: str, title: str) -> Iterator[Phase]:
        self.progress.step(title)
        ph = Phase(name=name, status="ok", seconds=0.0)
        start = time.monotonic()
        try:
            yield ph
        except (RehearseError, OSError) as e:
            ph.status, ph.message = "error", str(e)
            self.report.error = f"{name}: {e}"
            raise
        finally:
            ph.seconds = round(time.monotonic() - start, 2)
            self.report.phases.append(ph)


def rehearse(spec: RehearsalSpec, progress: Progress | None = None) -> Report:
    """Run the whole rehearsal and return its report (exceptions other than RehearseError propagate)."""
    progress = progress or NullProgress()
    report = Report(from_version=str(spec.source), to_version=str(spec.target), hops=[str(h) for h in spec.hops],
                    provider=spec.provider.name, verdict="pass", name=spec.name, scenario=spec.scenario,
                    started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), safety=Safety())
    state = _State(spec, progress, report)
    phases = _Phases(report, progress)
    start = time.monotonic()
    try:
        for name, title, stage in _stages(state):
            with phases.phase(name, title) as state.phase:
                stage(state)
                _observe(state, name)
    except (RehearseError, OSError) as e:
        report.error = report.error or str(e)
    finally:
        # What was judged is assembled and written before the cluster goes, so a failing or interrupted
        # cleanup cannot erase it; what the cleanup adds (a failure) is appended and written again.
        _assemble(state)
        report.seconds = round(time.monotonic() - start, 2)
        report.verdict = verdict_of(report)
        if spec.write is not None and state.cleanups:
            spec.write(report)
        for cleanup in reversed(state.cleanups):
            try:
                cleanup()
            except (RehearseError, OSError) as e:
                report.error = "; ".join(filter(None, [report.error, f"cleanup: {e}"]))
    report.verdict = verdict_of(report)
    if spec.write is not None:
        spec.write(report)
    return report


def _stages(s: _State) -> Iterator[tuple[str, str, _Stage]]:
    """The pipeline in order: each phase's name, its progress title and its stage. A generator, so that each
    title (and whether a stage runs at all) reads the state the stages before it left."""
    spec = s.spec
    if spec.knowledge is not None:
        yield ("plan", "planning from knowledge (removed APIs, flags, gates, charts, add-ons, skew)",
               functools.partial(_plan, spec.knowledge))
    yield "binaries", f"binaries for {spec.source} and {', '.join(map(str, spec.hops))}", _prepare
    yield "provision", f"creating a {spec.provider.name} cluster at {s.versions.source}", _provision
    yield "recreate", (f"recreating {len(spec.snapshot.objects)} objects and "
                       f"{len(spec.snapshot.helm_releases)} Helm releases"), _recreate
    yield "check-before", f"{len(s.checks)} checks before the upgrade", _check_before
    for target in s.versions.hops:
        yield f"upgrade {target}", f"upgrading {s.cluster.version} → {target}", functools.partial(_upgrade, target)
        if s.failure is not None:
            break
    yield "check-after", f"{len(s.checks)} checks after the upgrade", _check_after


def _plan(knowledge: Knowledge, s: _State) -> None:
    """Static findings from knowledge; those the rehearsal does not observe itself are added to its report."""
    planned = plan(s.spec.source, s.spec.target, snapshot=s.spec.snapshot, manifest_paths=[], knowledge=knowledge,
                   hops=s.spec.hops)
    s.plan_findings = planned.findings
    s.phase.details = {"findings": len(s.plan_findings)}


def _prepare(s: _State) -> None:
    """Host tools, then the source and every hop on the provider; the report names the patches that run."""
    s.helm = ensure(s.spec.source, _HOST_TOOLS, progress=s.progress).path("helm")
    s.versions = prepare_versions(s.spec.provider, s.spec.source, s.spec.hops)
    report, used = s.report, s.versions.used
    report.from_version, report.to_version = str(s.versions.source), str(s.versions.hops[-1])
    report.hops = [str(h) for h in s.versions.hops]
    report.versions_used = used
    for asked, got in used.items():
        if asked != got:
            report.notes.append(f"Kubernetes {asked} {s.spec.provider.substitution_reason}; "
                                f"the rehearsal ran {got} instead")
    s.phase.details = {"versions": used}


def _provision(s: _State) -> None:
    """Create the cluster at the exact prepared source version, with the production flags it can take."""
    options, dropped = cluster_options(s.spec.snapshot, s.spec.apiserver_args)
    options = replace(options, allow_egress=tuple(s.spec.allow_egress))
    if s.report.safety is not None and not s.spec.provider.simulated_pods:  # simulated pods open nothing
        s.report.safety.egress_open = list(options.allow_egress)
    if dropped:
        s.report.notes.append("machine-specific control-plane flags not carried to the rehearsal cluster: "
                              + ", ".join(dropped))
    s.cluster = s.spec.provider.create(s.spec.cluster_name, s.versions.source, options)
    s.cleanups.append(functools.partial(_cleanup, s, s.cluster))
    s.phase.details = {"cluster": s.cluster.name, "nodes": len(s.cluster.options.nodes)}


def _recreate(s: _State) -> None:
    """The snapshot's objects and Helm releases, at the source version; then the checks for what came back."""
    s.api = api_client(s.cluster.kubeconfig)
    # production's URL webhooks are answered by a stand-in on an address of this machine the API server reaches
    safety = s.report.safety = s.report.safety or Safety()
    stub = Stub(str(s.cluster.meta.get("callback_host", "127.0.0.1")), calls=safety.stub_calls,
                port=int(s.cluster.meta.get("callback_port", 0)))
    s.cleanups.append(stub.stop)
    s.recreated = recreated = recreate(s.api, s.spec.snapshot, knowledge=s.spec.knowledge, progress=s.progress,
                                       stub=stub.start())
    safety.neutralised = recreated.neutralised
    s.phase.details = {"applied": len(recreated.ok), "failed": len(recreated.applied) - len(recreated.ok)}
    s.report.findings += recreated.findings
    s.checks = [*builtin_checks(recreated), *scenario_checks(s.spec.checks, s.spec.scenario_base)]
    s.watch = Watch(s.cluster.meta.get("audit_log"), s.api, [a.written for a in recreated.ok],
                    s.spec.snapshot.addons, s.spec.provider.simulated_pods)


def _check_before(s: _State) -> None:
    """Every check on the cluster as recreated, at the source version."""
    ctx = CheckContext(api_client=s.api, kubeconfig=s.cluster.kubeconfig, version=s.cluster.version,
                       phase="before", simulated_pods=s.spec.provider.simulated_pods, helm=s.helm,
                       knowledge=s.spec.knowledge)
    s.before = run_checks(s.checks, ctx, s.progress)
    s.phase.details = _counts(s.before)


def _upgrade(target: Version, s: _State) -> None:
    """One hop; a component that refuses to start fails the phase and stops the upgrade (not the rehearsal)."""
    hop = upgrade_hop(s.spec.provider, s.cluster, target, s.progress, s.spec.knowledge)
    s.downtime += hop.api_downtime_seconds
    s.phase.details = {"control_plane_seconds": round(hop.control_plane_seconds, 2),
                       "nodes_seconds": round(hop.nodes_seconds, 2),
                       "api_downtime_seconds": round(hop.api_downtime_seconds, 2),
                       "components": {c: round(sec, 2) for c, sec in hop.components}}
    s.report.findings += hop.findings
    if hop.failure:
        s.phase.status, s.phase.message = "failed", hop.failure
        s.failure = f"the upgrade to {target} failed: {hop.failure}"
    if s.failure is not None or target == s.versions.hops[-1]:  # the upgrade is over: its downtime is known
        s.report.api_downtime_seconds = round(s.downtime, 2)


def _check_after(s: _State) -> None:
    """The same checks after the last hop (each one ``not-run`` when the upgrade stopped: the cluster is not at
    the target, so nothing they could say would be about it)."""
    last = s.versions.hops[-1]
    ctx = CheckContext(api_client=api_client(s.cluster.kubeconfig), kubeconfig=s.cluster.kubeconfig,
                       version=s.cluster.version if s.failure is None else last, phase="after",
                       simulated_pods=s.spec.provider.simulated_pods, hop=f"{s.versions.source}→{last}", helm=s.helm,
                       knowledge=s.spec.knowledge, upgrade_failed=s.failure)
    s.after = run_checks(s.checks, ctx, s.progress)
    s.phase.details = _counts(s.after)


def _observe(s: _State, name: str) -> None:
    """After each phase from recreate on: the audit log read (the upgrade's window once a hop began), and the
    objects read back after check-before, after each hop but the last, and after check-after (the controllers
    of the target have then had the checks' time to roll out what the upgrade changed)."""
    if s.watch is None:
        return
    upgrading = name.startswith("upgrade ") or name == "check-after"
    last_hop = f"upgrade {s.versions.hops[-1]}"
    s.watch.after_phase(upgrading=upgrading, read_objects=name in ("check-before", "check-after") or (
        upgrading and name not in (last_hop, "check-after") and s.failure is None), label=name)


def _assemble(s: _State) -> None:
    """The report's checks (before against after), findings (deduplicated, plus what only the plan predicts) and
    coverage; runs however far the rehearsal got."""
    report = s.report
    if s.watch is not None:  # what ran through the upgrade: API calls by caller, restarts, drift, storage
        seen = s.watch.finish(s.spec.knowledge, [s.versions.source, *s.versions.hops],
                              upgraded=s.failure is None and bool(s.after),
                              report_dir=s.spec.report_dir if s.spec.write is not None else None)
        for check, before, after in seen.checks:
            s.checks.append(check)
            s.before[check.id], s.after[check.id] = before, after
        report.findings += seen.findings
        report.notes += seen.notes
    report.checks = _classify(s.checks, s.before, s.after)
    before_findings = [f for r in s.before.values() for f in r.findings]
    # After the upgrade, a check that already failed before says nothing new about the upgrade: its
    # findings stay attributed to the state before (no hop), so they do not count as what broke.
    already = {c.id for c in report.checks if c.classification == "already-broken"}
    after_findings = [f for cid, r in s.after.items() if cid not in already for f in r.findings]
    report.findings = _dedupe(report.findings + before_findings + after_findings)
    report.findings += _unconfirmed(s.plan_findings, report.findings, report.versions_used, s.spec.provider)
    report.coverage = _coverage(s.recreated, report.checks, s.spec.provider)
    report.coverage.not_recreated += [  # what the snapshot itself could not hold a recreatable copy of
        NotRecreated(ObjectRef(apiVersion=n.api_version, kind=n.kind,
                               name="(not listed)" if n.count is None else f"{n.count} object{'s' * (n.count != 1)}"),
                     n.reason)
        for n in s.spec.snapshot.not_recreatable]


def _coverage(recreated: RecreateResult | None, checks: list[CheckResult], provider: Provider) -> Coverage:
    """What the verdict rests on: objects recreated or not (and why), checks by how they were judged."""
    counts = dict.fromkeys(("observed", "simulated", "predicted", "skipped", "not-run"), 0)
    for c in checks:
        if c.classification in ("unverified", "not-judged"):
            runs = [r for r in (c.before, c.after) if r is not None]
            counts["skipped" if any(r.outcome == "skip" for r in runs) else "not-run"] += 1
        else:
            counts[c.evidence] += 1
    cov = Coverage(checks=counts, simulated=list(provider.simulated_parts))
    if recreated is not None:
        cov.objects_recreated = len(recreated.ok)
        cov.not_recreated = [NotRecreated(ref(a.written), a.error or "not recreated")
                             for a in recreated.applied if not a.applied_version]
        cov.helm_releases = len(recreated.helm_records)
    return cov


def _cleanup(s: _State, cluster: Cluster) -> None:
    """Collect the logs, then delete the cluster (or keep it, and say how to delete it)."""
    spec, report = s.spec, s.report
    logs = spec.report_dir / "logs"
    start = time.monotonic()
    ph = Phase(name="cleanup", status="ok", seconds=0.0)
    try:
        s.progress.step("collecting logs" + ("" if spec.keep else f" and deleting {cluster.name}"))
        with contextlib.suppress(OSError):
            spec.provider.collect_logs(cluster, logs)
        if spec.keep:
            ph.message = f"kept cluster {cluster.name} (kubeconfig {cluster.kubeconfig})"
            ph.details = {"kept": True, "cluster": cluster.name, "kubeconfig": str(cluster.kubeconfig)}
            stand_in = ("; its webhooks that pointed at production endpoints point at the rehearsal's stand-in, which "
                        "has stopped" if report.safety is not None and report.safety.neutralised else "")
            report.notes.append(ph.message + f"; delete it with `rehearse clusters delete {cluster.name}`" + stand_in)
        else:
            spec.provider.delete(cluster)
    except (RehearseError, OSError) as e:
        ph.status, ph.message = "error", f"cleanup failed: {e}"
        raise InfraError(ph.message) from e
    finally:
        ph.seconds = round(time.monotonic() - start, 2)
        report.phases.append(ph)


def _classify(checks: list[Check], before: dict[str, CheckRun], after: dict[str, CheckRun]) -> list[CheckResult]:
    results = []
    for c in checks:
        b, a = before.get(c.id), after.get(c.id)
        cls = classify(b.outcome if b else None, a.outcome if a else None)
        message = (b.message if b else "") if cls in ("already-broken", "not-judged") else (a.message if a else "")
        ob = CheckOutcome(b.outcome, b.message, round(b.seconds, 2), b.evidence) if b else None
        oa = CheckOutcome(a.outcome, a.message, round(a.seconds, 2), a.evidence) if a else None
        results.append(CheckResult(id=c.id, name=c.name, before=ob, after=oa, classification=cls, message=message,
                                   evidence=evidence_of(ob, oa)))
    return results


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per kind, object and hop (the first, which says the most)."""
    seen: set[tuple[str, str, str, str, str]] = set()
    out = []
    for f in findings:
        hop = "" if f.kind == "deprecation" else (f.hop or "")  # a deprecation is reported once
        k = (f.kind, f.object.kind, f.object.namespace or "", f.object.name, hop)
        if k not in seen:
            seen.add(k)
            out.append(f)
    return out


# Why the rehearsal could not see what the knowledge predicts, by kind of finding.
_UNOBSERVABLE: dict[str, str] = {
    "kubelet-skew": "production's kubelets stay at their version while the rehearsal upgrades its own with the "
                    "control plane",
    "addon-unsupported": "from the add-on's published support range: the rehearsal does not run the add-on's "
                         "own code paths that depend on it",
    "addon-incompatible": "from the chart's declared kubeVersion: no helm upgrade ran in the rehearsal",
    "removed-flag": "the component did not run with this flag in the rehearsal",
    "removed-feature-gate": "the component did not run with this gate in the rehearsal",
    "removed-admission-plugin": "the API server did not run with this plugin in the rehearsal",
    "behaviour-change": "from the knowledge's notices: depends on production's registry, node runtime or cloud "
                        "provider",
    "removed-config-field": "the node components did not run with production's configuration file",
}


def _unconfirmed(planned: list[Finding], observed: list[Finding], used: dict[str, str],
                 provider: Provider) -> list[Finding]:
    """Plan findings about objects the rehearsal itself did not report, marked ``predicted`` with the reason it
    could not observe them, their hop relabelled to the patches that actually ran."""
    seen = {(f.kind, f.object.kind, f.object.namespace or "", f.object.name) for f in observed}
    out = []
    for f in planned:
        if (f.kind, f.object.kind, f.object.namespace or "", f.object.name) in seen:
            continue
        if f.hop and "→" in f.hop:
            a, b = f.hop.split("→", 1)
            f.hop = f"{used.get(a, a)}→{used.get(b, b)}"
        f.evidence = "predicted"
        f.basis = _UNOBSERVABLE.get(f.kind, "from the knowledge: the rehearsal did not see it happen")
        if f.kind == "kubelet-skew" and provider.simulated_pods:
            f.basis += " (and its kubelets are simulated by kwok)"
        out.append(f)
    return out


def _counts(runs: dict[str, CheckRun]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in runs.values():
        out[r.outcome] = out.get(r.outcome, 0) + 1
    return out


__all__ = ["RehearsalSpec", "rehearse"]
