"""Add-ons whose version line its maintainers do not support at a hop (the ``addons.yaml`` compatibility table),
with the versions to move to."""

from __future__ import annotations

from collections.abc import Sequence

from harness.knowledge import AddonSupport, addon_release
from harness.plan._base import PlanState, minor
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Snapshot
from harness.versions import Version


def addons(state: PlanState, snap: Snapshot) -> None:
    """The first hop each add-on of the snapshot is not supported at is a blocker; what cannot be told, a note."""
    knowledge = state.knowledge
    unknown: set[str] = set()
    for addon in snap.addons:
        if addon_release(addon.version) is None:
            if addon.name in knowledge.addons:
                state.notes.append(f"{addon.name} in {addon.namespace or 'the cluster'}: version "
                                   f"{addon.version or 'unknown'} not readable, compatibility not checked")
            continue
        line = knowledge.addon_support(addon.name, addon.version)
        if line is None:
            if addon.name in knowledge.addons:
                state.notes.append(f"{addon.name} {addon.version}: outside the version lines the compatibility "
                                   "table knows, not checked")
            else:
                unknown.add(addon.name)
            continue
        for hop in state.hops:
            if line.supports(hop.version.major, hop.version.minor):
                continue
            state.add(Finding(
                severity="blocker", kind="addon-unsupported",
                object=ObjectRef(kind="Addon", namespace=addon.namespace or None, name=f"{addon.name} {addon.version}"),
                cause=f"{addon.name} {line.versions} supports Kubernetes {line.range_text} (source: "
                      f"{line.source}); hop {hop.label} takes the cluster to {hop.version.minor_key}"
                      + (f" (note: {line.note})" if line.note else ""),
                fix=_fix(state, addon.name, hop.version), hop=hop.label),
                ("addon", addon.name, addon.namespace))
            break
    if unknown:
        state.notes.append("no compatibility data for add-on" + ("s " if len(unknown) > 1 else " ")
                           + ", ".join(sorted(unknown)) + " (add entries with --knowledge DIR/addons.yaml)")


def _fix(state: PlanState, name: str, hop: Version) -> str:
    """Which version lines to move ``name`` to: one supported both now and at ``hop`` when there is one."""
    source = state.source
    lines = state.knowledge.addons.get(name, ())
    at_hop = [ln for ln in lines if ln.supports(hop.major, hop.minor)]
    both = [ln for ln in at_hop if ln.supports(source.major, source.minor)]
    if both:
        shown = ", ".join(f"{ln.versions} ({ln.range_text})" for ln in _newest_first(both)[:3])
        return (f"upgrade {name} to a version supported on both {source.minor_key} and "
                f"{hop.minor_key} — {shown} — before upgrading the control plane")
    if at_hop:
        shown = ", ".join(f"{ln.versions} ({ln.range_text})" for ln in _newest_first(at_hop)[:3])
        return (f"no {name} version is known to support both {source.minor_key} and {hop.minor_key}: "
                f"upgrade it in step with the control plane to {shown}")
    return f"no {name} version is known to support {hop.minor_key}: ask its maintainers before upgrading"


def _newest_first(lines: Sequence[AddonSupport]) -> list[AddonSupport]:
    """Version lines ordered by the highest Kubernetes minor they support (unbounded first)."""
    return sorted(lines, key=lambda ln: (0, 0) if ln.max_minor is None else (-minor(ln.max_minor)[0],
                                                                             -minor(ln.max_minor)[1]))
