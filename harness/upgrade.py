"""The upgrade stage: hop by hop, the control plane first (kubeadm's order), then the kubelets.

A component of the target version that refuses to start is not an infrastructure failure: it is what the
upgrade broke. Its own error line becomes the finding's cause (a removed flag or feature gate, typically).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness.knowledge import Knowledge
from harness.knowledge.refusals import UNKNOWN_FLAG, UNRECOGNIZED_GATE
from harness.progress import NullProgress, Progress
from harness.providers.base import Cluster, Provider, UpgradeFailed
from harness.report.model import Finding, ObjectRef
from harness.versions import Version


@dataclass
class HopResult:
    """What one hop did."""

    source: Version
    target: Version
    seconds: float = 0.0
    control_plane_seconds: float = 0.0
    nodes_seconds: float = 0.0
    api_downtime_seconds: float = 0.0
    components: list[tuple[str, float]] = field(default_factory=list)
    failure: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.source}→{self.target}"


def finding_for_failure(e: UpgradeFailed, source: Version, knowledge: Knowledge | None = None) -> Finding:
    """Turn a component's refusal to start into a finding with the object, the cause and the fix."""
    hop = f"{source}→{e.version}"
    gate = UNRECOGNIZED_GATE.search(e.cause)
    if gate:
        name = gate.group(1)
        known = knowledge.removed_gate(e.component, name) if knowledge is not None else None
        return Finding(
            severity="blocker", kind="removed-feature-gate",
            object=ObjectRef(kind="FeatureGate", name=name, apiVersion=e.component),
            cause=f"{e.component} {e.version} refuses --feature-gates={name}: {e.cause}",
            fix=known.fix() if known is not None else
                f"remove {name} from --feature-gates of every control-plane component (and kubelets) before the "
                f"upgrade; in {e.version.minor_key} the gate no longer exists (it graduated to GA and was locked "
                "on, or was dropped)",
            hop=hop)
    flag = UNKNOWN_FLAG.search(e.cause)
    if flag:
        return Finding(
            severity="blocker", kind="removed-flag",
            object=ObjectRef(kind="Flag", name=flag.group(1), apiVersion=e.component),
            cause=f"{e.component} {e.version} does not accept {flag.group(1)}: {e.cause}",
            fix=f"remove {flag.group(1)} from {e.component}'s flags (or replace it with its successor) before "
                "the upgrade", hop=hop)
    return Finding(
        severity="blocker", kind="component-failed", object=ObjectRef(kind="Component", name=e.component),
        cause=f"{e.component} {e.version} failed to start: {e.cause}",
        fix=f"read {e.component}'s log in the report directory; fix its flags or configuration for "
            f"{e.version.minor_key}", hop=hop)


def upgrade_hop(provider: Provider, cluster: Cluster, target: Version, progress: Progress | None = None,
                knowledge: Knowledge | None = None) -> HopResult:
    """Upgrade the control plane to ``target``, then every node; a refusal becomes ``failure`` + a finding."""
    progress = progress or NullProgress()
    result = HopResult(source=cluster.version, target=target)
    start = time.monotonic()
    try:
        up = provider.upgrade_control_plane(cluster, target)
    except UpgradeFailed as e:
        result.failure = str(e)
        result.findings.append(finding_for_failure(e, result.source, knowledge))
        result.seconds = time.monotonic() - start
        return result
    result.target = up.version
    result.control_plane_seconds = up.seconds
    result.api_downtime_seconds = up.api_downtime_seconds
    result.components = list(up.components)
    t0 = time.monotonic()
    progress.update(f"kubelets → {up.version}")
    try:
        provider.upgrade_nodes(cluster, up.version)
    except UpgradeFailed as e:
        result.failure = str(e)
        result.findings.append(finding_for_failure(e, result.source, knowledge))
    result.findings += provider.take_findings(cluster)  # e.g. kind: a drain blocked by a PDB
    result.nodes_seconds = time.monotonic() - t0
    result.seconds = time.monotonic() - start
    return result
