"""The rehearsal pipeline: provision at X, recreate, check, upgrade hop by hop, check again, report.

Each stage is its own module; this one only sequences them, times each phase, and makes sure cleanup runs
(kinder's ``force: true``, chainsaw's ``finally``) unless the user asked to keep the cluster.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.binaries import ensure
from harness.checks import CheckContext, CheckRun, builtin_checks, run_checks, scenario_checks
from harness.errors import InfraError, RehearseError
from harness.kube import api_client
from harness.progress import NullProgress, Progress
from harness.providers.base import Cluster, ClusterOptions, NodeSpec, Provider
from harness.recreate import RecreateResult, recreate
from harness.report.model import CheckOutcome, CheckResult, Finding, Phase, Report, classify, verdict_of
from harness.scenario import CheckSpec
from harness.snapshot.model import Snapshot
from harness.upgrade import upgrade_hop
from harness.versions import Version, catalogue

_HOST_TOOLS = ("helm",)  # helm lists the recreated releases (whatever the provider)


@dataclass
class RehearsalSpec:
    """What to rehearse."""

    source: Version
    target: Version
    snapshot: Snapshot
    provider: Provider
    checks: list[CheckSpec] = field(default_factory=list)
    scenario: str | None = None
    scenario_base: Path | None = None
    name: str | None = None
    keep: bool = False
    report_dir: Path = Path("rehearse-report")
    apiserver_args: list[str] = field(default_factory=list)
    knowledge: Any = None
    cluster_name: str = field(default_factory=lambda: f"rehearse-{uuid.uuid4().hex[:6]}")


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
        except RehearseError as e:
            ph.status, ph.message = "error", str(e)
            self.report.error = f"{name}: {e}"
            raise
        finally:
            ph.seconds = round(time.monotonic() - start, 2)
            self.report.phases.append(ph)


def node_specs(snapshot: Snapshot, limit: int = 20) -> list[NodeSpec]:
    """Nodes to mirror: the snapshot's (or a default pair), up to ``limit``."""
    nodes = snapshot.nodes[:limit] or []
    if not nodes:
        return [NodeSpec("control-plane-1", control_plane=True), NodeSpec("worker-1")]
    specs = []
    for i, n in enumerate(nodes, 1):
        name = n.name or f"node-{i}"
        capacity = n.capacity or {"cpu": "8", "memory": "32Gi", "pods": "110"}
        specs.append(NodeSpec(name=name, labels=dict(n.labels), taints=list(n.taints), capacity=dict(capacity),
                              control_plane=n.control_plane))
    return specs


# Flags that describe the production machine (files, addresses, certificates, identity, network ranges) and
# cannot be carried to a rehearsal cluster. Everything else -- feature gates, admission plugins, runtime
# config, tuning -- is given to both versions, so a flag the target removed shows up as the upgrade's failure.
_MACHINE_FLAGS = (
    "--etcd-", "--bind-address", "--secure-port", "--advertise-address", "--tls-", "--client-ca-file",
    "--service-account-", "--kubelet-", "--requestheader-", "--proxy-client-", "--oidc-", "--authentication-",
    "--authorization-", "--audit-", "--encryption-provider-config", "--service-cluster-ip-range",
    "--enable-aggregator-routing", "--kubeconfig", "--cluster-signing-", "--root-ca-file", "--cert-dir",
    "--token-auth-file", "--cloud-", "--egress-selector-config-file", "--external-hostname",
    "--admission-control-config-file", "--cluster-cidr", "--allocate-node-cidrs", "--leader-elect",
    "--use-service-account-credentials", "--controllers", "--cluster-name", "--config",
)


def portable_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """Split production flags into those a rehearsal cluster can take and machine-specific ones."""
    kept, dropped = [], []
    for arg in args:
        name, _, value = arg.partition("=")
        if name.startswith(_MACHINE_FLAGS) or value.startswith("/"):
            dropped.append(name)
        else:
            kept.append(arg)
    return kept, dropped


def cluster_options(spec: RehearsalSpec) -> tuple[ClusterOptions, list[str]]:
    """The cluster to create, and the production flags that could not be carried over."""
    cp = spec.snapshot.control_plane
    api, d1 = portable_flags([*cp.apiserver_args, *spec.apiserver_args])
    cm, d2 = portable_flags(list(cp.controller_manager_args))
    sched, d3 = portable_flags(list(cp.scheduler_args))
    options = ClusterOptions(nodes=node_specs(spec.snapshot), apiserver_args=api, controller_manager_args=cm,
                             scheduler_args=sched, feature_gates=dict(cp.feature_gates))
    return options, sorted(set(d1 + d2 + d3))


def _classify(checks: list[Any], before: dict[str, CheckRun], after: dict[str, CheckRun]) -> list[CheckResult]:
    results = []
    for c in checks:
        b, a = before.get(c.id), after.get(c.id)
        cls = classify(b.outcome if b else None, a.outcome if a else None)
        message = (a.message if a else "") if cls in ("broke", "ok", "fixed", "skipped") else (b.message if b else "")
        results.append(CheckResult(
            id=c.id, name=c.name,
            before=CheckOutcome(b.outcome, b.message, round(b.seconds, 2)) if b else None,
            after=CheckOutcome(a.outcome, a.message, round(a.seconds, 2)) if a else None,
            classification=cls, message=message))
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


def rehearse(spec: RehearsalSpec, progress: Progress | None = None) -> Report:
    """Run the whole rehearsal and return its report (exceptions other than RehearseError propagate)."""
    progress = progress or NullProgress()
    hops = catalogue().hops(spec.source, spec.target)
    report = Report(from_version=str(spec.source), to_version=str(spec.target), hops=[str(h) for h in hops],
                    provider=spec.provider.name, verdict="pass", name=spec.name, scenario=spec.scenario,
                    started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    phases = _Phases(report, progress)
    start = time.monotonic()
    cluster: Cluster | None = None
    plan_findings: list[Finding] = []
    try:
        if spec.knowledge is not None:
            with phases.phase("plan", "planning from knowledge (removed APIs, flags, gates, charts, add-ons, "
                                      "skew)") as ph:
                from harness.plan import plan

                planned = plan(spec.source, spec.target, snapshot=spec.snapshot, manifest_paths=[],
                               knowledge=spec.knowledge)
                plan_findings = planned.findings
                ph.details = {"findings": len(plan_findings)}
        with phases.phase("binaries", f"binaries for {spec.source} and {', '.join(map(str, hops))}") as ph:
            tools = ensure(spec.source, _HOST_TOOLS, progress=progress)
            ran_source = spec.provider.prepare(spec.source)
            used = {str(spec.source): str(ran_source)}
            ran: list[Version] = []
            for v in hops:
                ran.append(spec.provider.prepare(v))
                used[str(v)] = str(ran[-1])
            # Reports name the patches that actually ran; versions_used maps what was asked to what ran.
            hops = ran
            report.from_version, report.to_version = str(ran_source), str(hops[-1])
            report.hops = [str(h) for h in hops]
            report.versions_used = used
            for asked, got in used.items():
                if asked != got:
                    why = ("cannot be built here" if spec.provider.name == "local"
                           else f"has no {spec.provider.name} node image")
                    report.notes.append(f"Kubernetes {asked} {why}; the rehearsal ran {got} instead")
            ph.details = {"versions": used}
        with phases.phase("provision", f"creating a {spec.provider.name} cluster at {ran_source}") as ph:
            options, dropped = cluster_options(spec)
            if dropped:
                report.notes.append("machine-specific control-plane flags not carried to the rehearsal cluster: "
                                    + ", ".join(dropped))
            cluster = spec.provider.create(spec.cluster_name, spec.source, options)
            ph.details = {"cluster": cluster.name, "nodes": len(cluster.options.nodes)}
        api = api_client(cluster.kubeconfig)
        with phases.phase("recreate", f"recreating {len(spec.snapshot.objects)} objects and "
                                      f"{len(spec.snapshot.helm_releases)} Helm releases") as ph:
            recreated = recreate(api, spec.snapshot, knowledge=spec.knowledge, progress=progress)
            ph.details = {"applied": len(recreated.ok), "failed": len(recreated.applied) - len(recreated.ok)}
        report.findings += recreated.findings
        checks = [*builtin_checks(recreated), *scenario_checks(spec.checks, spec.scenario_base)]
        ctx = CheckContext(api_client=api, kubeconfig=cluster.kubeconfig, version=cluster.version, phase="before",
                           simulated_pods=spec.provider.name == "local", helm=tools.path("helm"),
                           knowledge=spec.knowledge)
        with phases.phase("check-before", f"{len(checks)} checks before the upgrade") as ph:
            before = run_checks(checks, ctx, progress)
            ph.details = _counts(before)
        failure = _upgrade(spec, cluster, hops, phases, report, progress)
        after_ctx = CheckContext(api_client=api_client(cluster.kubeconfig), kubeconfig=cluster.kubeconfig,
                                 version=cluster.version if failure is None else hops[-1], phase="after",
                                 simulated_pods=ctx.simulated_pods, hop=f"{ran_source}→{hops[-1]}",
                                 helm=ctx.helm, knowledge=spec.knowledge, upgrade_failed=failure)
        with phases.phase("check-after", f"{len(checks)} checks after the upgrade") as ph:
            after = run_checks(checks, after_ctx, progress)
            ph.details = _counts(after)
        report.checks = _classify(checks, before, after)
        before_findings = [f for r in before.values() for f in r.findings]
        # After the upgrade, a check that already failed before says nothing new about the upgrade: its
        # findings stay attributed to the state before (no hop), so they do not count as what broke.
        already = {c.id for c in report.checks if c.classification == "already-broken"}
        after_findings = [f for cid, r in after.items() if cid not in already for f in r.findings]
        report.findings = _dedupe(report.findings + before_findings + after_findings)
        report.findings += _unconfirmed(plan_findings, report.findings, report.versions_used)
    except RehearseError as e:
        report.error = report.error or str(e)
    finally:
        report.seconds = round(time.monotonic() - start, 2)
        if cluster is not None:
            _cleanup(spec, cluster, report, progress)
    report.verdict = verdict_of(report)
    return report


def _unconfirmed(planned: list[Finding], observed: list[Finding], used: dict[str, str]) -> list[Finding]:
    """Plan findings about objects the rehearsal itself did not report (e.g. kubelet skew), with their hop
    relabelled to the patches that actually ran."""
    seen = {(f.kind, f.object.kind, f.object.namespace or "", f.object.name) for f in observed}
    out = []
    for f in planned:
        if (f.kind, f.object.kind, f.object.namespace or "", f.object.name) in seen:
            continue
        if f.hop and "→" in f.hop:
            a, b = f.hop.split("→", 1)
            f.hop = f"{used.get(a, a)}→{used.get(b, b)}"
        out.append(f)
    return out


def _counts(runs: dict[str, CheckRun]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in runs.values():
        out[r.outcome] = out.get(r.outcome, 0) + 1
    return out


def _upgrade(spec: RehearsalSpec, cluster: Cluster, hops: list[Version], phases: _Phases, report: Report,
             progress: Progress) -> str | None:
    """Upgrade hop by hop; returns why the upgrade stopped, or None when every hop completed."""
    downtime = 0.0
    for target in hops:
        with phases.phase(f"upgrade {target}", f"upgrading {cluster.version} → {target}") as ph:
            hop = upgrade_hop(spec.provider, cluster, target, progress, spec.knowledge)
            downtime += hop.api_downtime_seconds
            ph.details = {"control_plane_seconds": round(hop.control_plane_seconds, 2),
                          "nodes_seconds": round(hop.nodes_seconds, 2),
                          "api_downtime_seconds": round(hop.api_downtime_seconds, 2),
                          "components": {c: round(s, 2) for c, s in hop.components}}
            report.findings += hop.findings
            if hop.failure:
                ph.status, ph.message = "failed", hop.failure
                report.api_downtime_seconds = round(downtime, 2)
                return f"the upgrade to {target} failed: {hop.failure}"
    report.api_downtime_seconds = round(downtime, 2)
    return None


def _cleanup(spec: RehearsalSpec, cluster: Cluster, report: Report, progress: Progress) -> None:
    logs = spec.report_dir / "logs"
    start = time.monotonic()
    ph = Phase(name="cleanup", status="ok", seconds=0.0)
    try:
        progress.step("collecting logs" + ("" if spec.keep else f" and deleting {cluster.name}"))
        with contextlib.suppress(OSError):
            spec.provider.collect_logs(cluster, logs)
        if spec.keep:
            ph.message = f"kept cluster {cluster.name} (kubeconfig {cluster.kubeconfig})"
            report.notes.append(ph.message + f"; delete it with `rehearse clusters delete {cluster.name}`")
        else:
            spec.provider.delete(cluster)
    except (RehearseError, OSError) as e:
        ph.status, ph.message = "error", f"cleanup failed: {e}"
        raise InfraError(ph.message) from e
    finally:
        ph.seconds = round(time.monotonic() - start, 2)
        report.phases.append(ph)


__all__ = ["RecreateResult", "RehearsalSpec", "rehearse"]
