"""`plan` from a snapshot built in code: objects and API usage, Helm releases, control-plane flags, feature
gates and admission plugins, chart kubeVersion constraints, kubelet skew."""

from __future__ import annotations

import json

import pytest

from harness.knowledge import Knowledge
from harness.plan import kubelet_skew_allowed, plan
from harness.report.model import Finding, Report
from harness.snapshot.model import ApiUsage, ControlPlane, HelmRelease, NodeInfo, Snapshot
from harness.versions import Version, catalogue

CAT = catalogue()

HELM_MANIFEST = """\
---
# Source: batch-platform/templates/flowschema.yaml
apiVersion: flowcontrol.apiserver.k8s.io/v1beta2
kind: FlowSchema
metadata:
  name: batch-platform
spec:
  priorityLevelConfiguration: {name: batch-platform}
  matchingPrecedence: 900
---
# Source: batch-platform/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: batch-platform
  namespace: batch
spec:
  selector: {matchLabels: {app: batch-platform}}
  template:
    metadata: {labels: {app: batch-platform}}
    spec: {containers: [{name: c, image: registry.example.com/batch:1}]}
"""


def _last_applied(api_version: str, kind: str, name: str) -> dict[str, str]:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    return {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(body) + "\n"}


def _snapshot() -> Snapshot:
    return Snapshot(
        server_version="v1.27.16",
        nodes=[NodeInfo(name="control-plane", kubelet_version="v1.27.16", control_plane=True),
               NodeInfo(name="node-1", kubelet_version="v1.25.15"), NodeInfo(name="node-2", kubelet_version="v1.25.9"),
               NodeInfo(name="node-3", kubelet_version="v1.27.16")],
        control_plane=ControlPlane(
            visible=True, source="static-pods",
            apiserver_args=["--advertise-address=10.0.0.1", "--feature-gates=DevicePlugins=true,APIListChunking=true"],
            controller_manager_args=["--leader-elect=true"],
            scheduler_args=["--lock-object-name=kube-scheduler", "--v=2"],
            feature_gates={"DevicePlugins": True, "APIListChunking": True, "CronJobTimeZone": True}),
        helm_releases=[
            HelmRelease(name="batch-platform", namespace="batch", chart="batch-platform", chart_version="3.1.0",
                        app_version="3.1.0", status="deployed", revision=4, storage="secret",
                        manifest=HELM_MANIFEST, kube_version=">=1.23.0-0 <1.29.0-0"),
            HelmRelease(name="web", namespace="web", chart="web", chart_version="1.0.0", app_version="1.0.0",
                        status="deployed", revision=1, storage="secret", kube_version=">=1.20.0-0"),
        ],
        objects=[
            {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "PriorityLevelConfiguration",
             "metadata": {"name": "batch-platform",
                          "annotations": _last_applied("flowcontrol.apiserver.k8s.io/v1beta2",
                                                       "PriorityLevelConfiguration", "batch-platform")}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "batch"}},
            {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema",
             "metadata": {"name": "tenants-read"}},
        ],
        api_usage=[
            ApiUsage(api_version="flowcontrol.apiserver.k8s.io/v1beta2", kind="FlowSchema", namespace=None,
                     name="batch-platform", source="managedFields"),
            ApiUsage(api_version="flowcontrol.apiserver.k8s.io/v1beta2", kind="FlowSchema", namespace=None,
                     name="tenants", source="managedFields"),
        ],
    )


def _plan(snapshot: Snapshot, source: str, target: str, knowledge: Knowledge) -> Report:
    return plan(CAT.resolve(source), CAT.resolve(target), snapshot=snapshot, manifest_paths=[], knowledge=knowledge)


def _by(report: Report, kind: str) -> list[Finding]:
    return [f for f in report.findings if f.kind == kind]


@pytest.fixture(scope="module")
def report(knowledge: Knowledge) -> Report:
    return _plan(_snapshot(), "1.27", "1.29", knowledge)


def test_shape(report: Report) -> None:
    assert report.provider == "none"
    assert report.verdict == "broke"
    assert report.hops == ["1.28.15", "1.29.15"]
    assert [p.name for p in report.phases] == ["plan"] and report.phases[0].status == "ok"
    assert report.phases[0].details["helm_releases"] == 2 and report.phases[0].details["nodes"] == 4
    assert all(f.hop in (None, "1.27.16→1.28.15", "1.28.15→1.29.15") for f in report.findings)
    assert [f.kind for f in report.findings if f.severity != "blocker"] == ["deprecated-api"]
    assert all(f.cause and f.fix for f in report.findings)


def test_removed_apis_from_helm_last_applied_and_api_usage(report: Report, knowledge: Knowledge) -> None:
    found = {(f.object.kind, f.object.name): f for f in _by(report, "removed-api")}
    assert set(found) == {("FlowSchema", "batch-platform"), ("PriorityLevelConfiguration", "batch-platform"),
                          ("FlowSchema", "tenants")}
    assert all(f.hop == "1.28.15→1.29.15" for f in found.values())
    helm = found[("FlowSchema", "batch-platform")]  # in the Helm manifest and in managedFields: reported once
    assert "Helm release batch/batch-platform (chart batch-platform-3.1.0)" in helm.cause
    assert "helm-mapkubeapis" in helm.fix
    assert helm.fix.startswith(knowledge.fix_for("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema"))
    assert "last kubectl apply" in found[("PriorityLevelConfiguration", "batch-platform")].cause
    assert "managedFields" in found[("FlowSchema", "tenants")].cause


def test_deprecated_but_served_at_the_target_is_a_warning(report: Report) -> None:
    [warning] = _by(report, "deprecated-api")
    assert (warning.severity, warning.object.name, warning.hop) == ("warning", "tenants-read", None)
    assert "deprecated since 1.29 and removed in 1.32; 1.29.15 still serves it" in warning.cause
    assert warning.fix.startswith("Rewrite as flowcontrol.apiserver.k8s.io/v1")


def test_removed_flags_and_gates(report: Report) -> None:
    flags = _by(report, "removed-flag")
    assert [(f.object.apiVersion, f.object.name, f.hop) for f in flags] == [
        ("kube-scheduler", "--lock-object-name", "1.27.16→1.28.15")]
    assert "--lock-object-name" in flags[0].fix
    gates = {f.object.name: f for f in _by(report, "removed-feature-gate")}
    assert set(gates) == {"DevicePlugins", "CronJobTimeZone"}
    assert gates["DevicePlugins"].hop == "1.27.16→1.28.15"
    assert gates["CronJobTimeZone"].hop == "1.28.15→1.29.15"
    assert "remove DevicePlugins from --feature-gates" in gates["DevicePlugins"].fix


def test_chart_kube_version(report: Report) -> None:
    charts = _by(report, "addon-incompatible")
    assert [(f.object.name, f.hop) for f in charts] == [("batch-platform", "1.28.15→1.29.15")]
    assert "'>=1.23.0-0 <1.29.0-0'" in charts[0].cause and "v1.29.15" in charts[0].cause
    assert "admits 1.29" in charts[0].fix


def test_kubelet_skew(report: Report) -> None:
    skew = _by(report, "kubelet-skew")
    assert len(skew) == 1
    assert skew[0].hop == "1.28.15→1.29.15"  # 1.25 kubelets are 3 behind 1.28 (allowed), 4 behind 1.29
    assert skew[0].object.name == "node-1, node-2"
    assert "allows 3" in skew[0].cause
    assert "1.26 or later" in skew[0].fix


def test_skew_policy_before_1_28_allows_two_minors(knowledge: Knowledge) -> None:
    assert kubelet_skew_allowed(Version(1, 27, 0)) == 2
    assert kubelet_skew_allowed(Version(1, 28, 0)) == 3
    snap = Snapshot(server_version="v1.26.13", nodes=[NodeInfo(name="old", kubelet_version="v1.24.17"),
                                                      NodeInfo(name="odd", kubelet_version="unknown")])
    report = _plan(snap, "1.26", "1.27", knowledge)
    assert [(f.kind, f.hop) for f in report.findings] == [("kubelet-skew", "1.26.15→1.27.16")]
    assert any("odd" in n for n in report.notes)


def test_admission_plugins_from_the_generated_knowledge(knowledge: Knowledge) -> None:
    snap = Snapshot(server_version="v1.24.17", control_plane=ControlPlane(
        visible=True, apiserver_args=["--enable-admission-plugins=NodeRestriction,PodSecurityPolicy"],
        admission_plugins=["NodeRestriction", "PodSecurityPolicy"]))
    report = _plan(snap, "1.24", "1.25", knowledge)
    assert sorted((f.kind, f.object.name, f.hop) for f in report.findings) == [
        ("behaviour-change", "kube-apiserver admission plugin PodSecurityPolicy", "1.24.17→1.25.16"),
        ("removed-admission-plugin", "PodSecurityPolicy", "1.24.17→1.25.16")]
    plugin = next(f for f in report.findings if f.kind == "removed-admission-plugin")
    assert "Pod Security Admission" in plugin.fix


def test_generated_flags_reach_the_plan(knowledge: Knowledge) -> None:
    """klog's flags went in 1.26: only the generated knowledge knows (the curated file does not list them)."""
    snap = Snapshot(server_version="v1.25.15", control_plane=ControlPlane(
        visible=True, apiserver_args=["--logtostderr=true", "--secure-port=6443"]))
    report = _plan(snap, "1.25", "1.26", knowledge)
    assert [(f.kind, f.object.name, f.hop) for f in report.findings] == [
        ("removed-flag", "--logtostderr", "1.25.16→1.26.15")]


def test_unreadable_kube_version_is_a_warning(knowledge: Knowledge) -> None:
    snap = Snapshot(server_version="v1.27.16", helm_releases=[HelmRelease(
        name="x", namespace="x", chart="x", chart_version="1", app_version="1", status="deployed", revision=1,
        storage="secret", kube_version=">= banana")])
    report = _plan(snap, "1.27", "1.28", knowledge)
    assert [(f.severity, f.kind) for f in report.findings] == [("warning", "addon-incompatible")]
    assert report.verdict == "pass"


def test_a_clean_snapshot_passes(knowledge: Knowledge) -> None:
    snap = Snapshot(server_version="v1.27.16", nodes=[NodeInfo(name="n", kubelet_version="v1.27.16")],
                    objects=[{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}])
    report = _plan(snap, "1.27", "1.29", knowledge)
    assert report.findings == [] and report.verdict == "pass"
