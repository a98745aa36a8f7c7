"""Static analysis of an upgrade, in seconds and without a cluster: ``rehearse plan``.

:func:`plan` walks the hops from ``source`` to ``target`` and reports, with the same finding shape as a rehearsal
(object, cause, fix), one rule family a module:

- :mod:`~harness.plan.apis`: every object that uses an API a hop removes (snapshot objects and the API versions
  they were last written with, Helm releases' rendered manifests, manifest files and GitOps directories), and
  every API still served but deprecated at the target;
- :mod:`~harness.plan.flags`: control-plane flags, feature gates and admission plugins a hop removes;
- :mod:`~harness.plan.nodes`: the kubelet's and kube-proxy's feature gates, configuration fields and (kube-proxy)
  flags, and kubeadm's feature gates;
- :mod:`~harness.plan.notices`: behaviour changes with no API removal (``notices.yaml``: a frozen registry, a
  container runtime or cgroup version a hop drops, in-tree cloud providers, PodSecurityPolicy, legacy tokens);
- :mod:`~harness.plan.usage`: deprecated APIs production still receives requests for (the snapshot's gauge);
- :mod:`~harness.plan.audit`: who calls removed or deprecated APIs, from API server audit logs (``--audit-log``);
- :mod:`~harness.plan.charts`: Helm charts whose ``kubeVersion`` excludes a hop;
- :mod:`~harness.plan.addons`: add-on versions whose maintainers do not support a hop;
- :mod:`~harness.plan.skew`: kubelets left further behind than the version skew policy allows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.knowledge import Knowledge, removed_admission_plugins
from harness.manifests import find_manifests
from harness.plan import addons, charts, flags, nodes, notices, skew, usage
from harness.plan._base import Hop, PlanState
from harness.plan.apis import RemovedApis
from harness.plan.audit import audit_findings, read_audit_logs
from harness.plan.skew import kubelet_skew_allowed
from harness.report.model import Phase, Report, verdict_of
from harness.snapshot.model import Snapshot
from harness.versions import Version, catalogue

__all__ = ["kubelet_skew_allowed", "plan"]


def plan(source: Version, target: Version, *, snapshot: Snapshot | None, manifest_paths: Sequence[Path],
         knowledge: Knowledge, admission_plugins: Mapping[str, str] | None = None,
         hops: Sequence[Version] | None = None, audit_logs: Sequence[Path] = ()) -> Report:
    """The findings of an upgrade from ``source`` to ``target``, from knowledge alone (no cluster).

    ``admission_plugins`` maps a removed admission plugin to the minor that removed it (default: the generated
    knowledge). ``hops`` are the versions to upgrade through, as ``catalogue().hops(source, target)`` returns them
    (computed here when not given). ``audit_logs``: API server audit logs whose callers of removed or deprecated
    APIs are attributed (:mod:`~harness.plan.audit`). Raises :class:`InputError` for a downgrade, an unreadable or
    malformed manifest file or audit log.
    """
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.monotonic()
    versions = list(catalogue().hops(source, target) if hops is None else hops)
    steps, previous = [], source
    for v in versions:
        steps.append(Hop(f"{previous}→{v}", v))
        previous = v
    state = PlanState(source, target, steps, knowledge)
    apis = RemovedApis(state)
    if snapshot is not None:
        apis.snapshot(snapshot)
        charts.releases(state, snapshot)
        flags.control_plane(state, snapshot,
                            removed_admission_plugins() if admission_plugins is None else admission_plugins)
        nodes.kubeadm(state, snapshot)
        nodes.node_components(state, snapshot)
        skew.kubelets(state, snapshot)
        addons.addons(state, snapshot)
        notices.notices(state, snapshot)
        usage.production_calls(state, snapshot)
    if audit_logs:
        audit_findings(state, read_audit_logs(audit_logs, list(knowledge.apis.values())))
    for p in manifest_paths:
        found = find_manifests(Path(p))
        charts.directories(state, found.charts)
        for f in found.files:
            apis.file(f)
    findings = [f for _, f in sorted(state.findings, key=lambda pair: _sort_key(pair[0]))]
    for finding in findings:  # a plan creates no cluster: everything in it comes from the knowledge
        finding.evidence, finding.basis = "predicted", "static plan: no cluster was created"
    seconds = time.monotonic() - t0
    blockers = sum(f.severity == "blocker" for f in findings)
    phase = Phase(name="plan", status="ok", seconds=round(seconds, 3),
                  message=f"{blockers} blocker{'s' if blockers != 1 else ''}, {len(findings) - blockers} other "
                          f"finding{'s' if len(findings) - blockers != 1 else ''}",
                  details={**state.counts, "helm_releases": len(snapshot.helm_releases) if snapshot else 0,
                           "nodes": len(snapshot.nodes) if snapshot else 0})
    report = Report(from_version=str(source), to_version=str(target), hops=[str(v) for v in versions],
                    provider="none", verdict="pass", started=started, seconds=round(seconds, 3), phases=[phase],
                    findings=findings, notes=state.notes)
    report.verdict = verdict_of(report)
    return report


def _sort_key(order: tuple[Any, ...]) -> tuple[str, ...]:
    """Orders of mixed types (ints, strings, tuples) compared as text with zero-padded numbers."""
    return tuple(f"{v:09d}" if isinstance(v, int) else str(v) for v in order)
