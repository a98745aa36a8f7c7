"""The node components and kubeadm against each hop: feature gates and fields of the kubelet's and kube-proxy's
configuration files (from ``Snapshot.component_configs`` or kubeadm's ConfigMaps, :mod:`._facts`), kube-proxy's
flags (its DaemonSet) and kubeadm's own feature gates (``ClusterConfiguration.featureGates``).

A gate a component no longer knows makes it refuse to start (a blocker at the hop that removes it); a
configuration field it no longer knows is logged and ignored (the kubelet and kube-proxy decode their files
leniently), so the setting silently stops applying (a warning). The kubelet's command-line flags are not visible
through the API: a note names the kubelet flags the upgrade removes, to be checked on the nodes."""

from __future__ import annotations

from collections.abc import Iterable

from harness.knowledge import RemovedOption
from harness.plan import _facts
from harness.plan._base import PlanState
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Snapshot


def _in_span(state: PlanState, opt: RemovedOption | None) -> RemovedOption | None:
    return opt if opt is not None and state.removed_in_span(opt.removed_minor) else None


def _gates(state: PlanState, component: str, gates: Iterable[str], where: str) -> None:
    for gate in sorted(set(gates)):
        opt = _in_span(state, state.knowledge.removed_gate(component, gate))
        if opt is None:
            continue
        label = state.hop_label(opt.removed_minor)
        state.add(Finding(
            severity="blocker", kind="removed-feature-gate",
            object=ObjectRef(apiVersion=component, kind="FeatureGate", name=gate),
            cause=f"{component} {opt.removed_in} no longer knows feature gate {gate}, set in {where}, and refuses "
                  f"to start with it (hop {label or '?'})", fix=opt.fix(), hop=label), ("gate", component, gate))


def _gates_of(args: Iterable[str]) -> list[str]:
    out = []
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        if name == "feature-gates":
            out += [p.split("=", 1)[0].strip() for p in value.split(",") if p.strip()]
    return out


def node_components(state: PlanState, snap: Snapshot) -> None:
    """The kubelet's and kube-proxy's configuration files and kube-proxy's flags."""
    for component, doc in sorted(_facts.component_configs(snap).items()):
        gates = doc.get("featureGates")
        if isinstance(gates, dict):
            _gates(state, component, (str(g) for g in gates), "its configuration file's featureGates")
        for record in _facts.configs(snap):
            if record["component"] != component:
                continue
            opt = _in_span(state, state.knowledge.removed_config_field(component, record["path"]))
            if opt is None:
                continue
            label = state.hop_label(opt.removed_minor)
            state.add(Finding(
                severity="warning", kind="removed-config-field",
                object=ObjectRef(apiVersion=component, kind="ConfigField", name=record["path"]),
                cause=f"{component} {opt.removed_in} no longer has configuration field {record['path']}: the "
                      f"value set in its configuration file is ignored from then on (hop {label or '?'})",
                fix=opt.fix(), hop=label), ("field", component, record["path"]))
    proxy = _facts.kube_proxy_args(snap)
    if proxy:
        _gates(state, "kube-proxy", _gates_of(proxy), "its command line (the kube-proxy DaemonSet)")
        for arg in proxy:
            name = arg.lstrip("-").split("=", 1)[0]
            if not arg.startswith("-") or name == "feature-gates":
                continue
            opt = _in_span(state, state.knowledge.removed_flag("kube-proxy", name))
            if opt is None:
                continue
            label = state.hop_label(opt.removed_minor)
            state.add(Finding(
                severity="blocker", kind="removed-flag",
                object=ObjectRef(apiVersion="kube-proxy", kind="Flag", name=f"--{name}"),
                cause=f"kube-proxy {opt.removed_in} no longer accepts --{name} (set in the kube-proxy DaemonSet) "
                      f"and refuses to start with it (hop {label or '?'})", fix=opt.fix(), hop=label),
                ("flag", "kube-proxy", name))
    kubelet_flags = state.knowledge.options_removed_between(state.source, state.target, "kubelet")
    names = [o.display for o in kubelet_flags if o.type == "flag"]
    if names and snap.nodes:
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        state.notes.append(f"kubelet command-line flags are not visible through the API: check the nodes' kubelet "
                           f"flags (KUBELET_EXTRA_ARGS, /var/lib/kubelet/kubeadm-flags.env) for {shown}, which "
                           "this upgrade removes")


def kubeadm(state: PlanState, snap: Snapshot) -> None:
    """kubeadm's own feature gates (``ClusterConfiguration.featureGates``)."""
    gates = snap.control_plane.kubeadm_feature_gates
    _gates(state, "kubeadm", gates, "ClusterConfiguration featureGates (kubeadm-config)")
