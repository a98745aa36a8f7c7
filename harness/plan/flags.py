"""Control-plane flags, feature gates and admission plugins a hop removes: the component refuses to start with
them, so each is a blocker at the hop that removes it."""

from __future__ import annotations

from collections.abc import Mapping

from harness.plan._base import PlanState, minor
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Snapshot

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def control_plane(state: PlanState, snap: Snapshot, admission_plugins: Mapping[str, str]) -> None:
    """The flags, feature gates and admission plugins of the snapshot's control plane.

    ``admission_plugins`` maps a removed admission plugin to the minor that removed it.
    """
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
            opt = state.knowledge.removed_flag(comp, name)
            if opt is None or not state.removed_in_span(opt.removed_minor):
                continue
            label = state.hop_label(opt.removed_minor)
            state.add(Finding(
                severity="blocker", kind="removed-flag",
                object=ObjectRef(apiVersion=comp, kind="Flag", name=f"--{name}"),
                cause=f"{comp} {opt.removed_in} no longer accepts --{name} and refuses to start with it "
                      f"(hop {label or '?'})", fix=opt.fix(), hop=label), ("flag", comp, name))
    for gate, comps in sorted(gates.items()):
        opt = next((o for c in comps if (o := state.knowledge.removed_gate(c, gate)) is not None), None)
        if opt is None or not state.removed_in_span(opt.removed_minor):
            continue
        label = state.hop_label(opt.removed_minor)
        state.add(Finding(
            severity="blocker", kind="removed-feature-gate",
            object=ObjectRef(apiVersion=",".join(comps), kind="FeatureGate", name=gate),
            cause=f"{opt.removed_in} no longer knows feature gate {gate}: {', '.join(comps)} refuse to start "
                  f"with --feature-gates={gate}=… (hop {label or '?'})", fix=opt.fix(), hop=label), ("gate", gate))
    for plugin in cp.admission_plugins:
        removed_in = admission_plugins.get(plugin)
        if removed_in is None or not state.removed_in_span(minor(removed_in)):
            continue
        label = state.hop_label(minor(removed_in))
        fix = f"remove {plugin} from --enable-admission-plugins of kube-apiserver before upgrading to {removed_in}"
        if plugin == "PodSecurityPolicy":
            fix += "; enforce pod security with Pod Security Admission (namespace labels) or a policy engine first"
        state.add(Finding(
            severity="blocker", kind="removed-admission-plugin",
            object=ObjectRef(apiVersion="kube-apiserver", kind="AdmissionPlugin", name=plugin),
            cause=f"kube-apiserver {removed_in} no longer has admission plugin {plugin} and refuses to start "
                  f"with it enabled (hop {label or '?'})", fix=fix, hop=label), ("plugin", plugin))

