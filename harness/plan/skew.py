"""Kubelets a hop's control plane would leave further behind than the version skew policy allows."""

from __future__ import annotations

from harness.plan._base import PlanState, minor
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Snapshot
from harness.versions import Version


def kubelet_skew_allowed(control_plane: Version) -> int:
    """How many minors a kubelet may trail kube-apiserver ``control_plane``: 3 since 1.28, 2 before."""
    return 3 if (control_plane.major, control_plane.minor) >= (1, 28) else 2


def kubelets(state: PlanState, snap: Snapshot) -> None:
    """Each kubelet minor of the snapshot's nodes against each hop: the first hop beyond the policy is a blocker."""
    by_version: dict[tuple[int, int], list[str]] = {}
    unreadable = []
    for node in snap.nodes:
        kubelet = _kubelet_minor(node.kubelet_version)
        if kubelet is None:
            unreadable.append(node.name)
        else:
            by_version.setdefault(kubelet, []).append(node.name)
    if unreadable:
        state.notes.append(f"kubelet version not readable on {', '.join(unreadable)}: skew not checked there")
    for kubelet, names in sorted(by_version.items()):
        for hop in state.hops:
            allowed = kubelet_skew_allowed(hop.version)
            behind = hop.version.minor - kubelet[1] if hop.version.major == kubelet[0] else 0
            if behind <= allowed:
                continue
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            oldest_ok = f"{hop.version.major}.{hop.version.minor - allowed}"
            state.add(Finding(
                severity="blocker", kind="kubelet-skew",
                object=ObjectRef(apiVersion="v1", kind="Node", name=shown),
                cause=f"kubelet {kubelet[0]}.{kubelet[1]} on {len(names)} node{'s' if len(names) > 1 else ''} "
                      f"would trail kube-apiserver {hop.version} by {behind} minors (hop {hop.label}); the "
                      f"version skew policy allows {allowed}",
                fix=f"upgrade these nodes' kubelets to {oldest_ok} or later before the control plane reaches "
                    f"{hop.version.minor_key}, or upgrade the nodes at every hop rather than at the end",
                hop=hop.label), ("kubelet", kubelet))
            break


def _kubelet_minor(version: str) -> tuple[int, int] | None:
    try:
        return minor(version.strip().lstrip("v"))
    except ValueError:
        return None
