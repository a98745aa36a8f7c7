"""`plan` beyond the control plane: the kubelet's and kube-proxy's gates, flags and configuration fields, kubeadm's
gates, and the behaviour changes of notices.yaml — from snapshots built in code (the inputs a snapshot gains when
it records the node components' configuration are set as attributes, the way the plan reads them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import InputError
from harness.knowledge import Knowledge, load_knowledge
from harness.plan import plan
from harness.report.model import Finding, Report
from harness.snapshot.model import ControlPlane, NodeInfo, Snapshot, WorkloadInfo
from harness.versions import catalogue

CAT = catalogue()
PSP_SOURCE = "https://kubernetes.io/docs/tasks/configure-pod-container/migrate-from-psp/"


def _plan(snapshot: Snapshot, source: str, target: str, knowledge: Knowledge) -> Report:
    return plan(CAT.resolve(source), CAT.resolve(target), snapshot=snapshot, manifest_paths=[], knowledge=knowledge)


def _by(report: Report, kind: str) -> list[Finding]:
    return [f for f in report.findings if f.kind == kind]


def _config_map(name: str, key: str, doc: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "kube-system", "name": name},
            "data": {key: yaml.safe_dump(doc)}}


# ---- feature gates the issue names ---------------------------------------------------------------------------------

def test_ipv6dualstack_and_ttlafterfinished_set_in_the_kubeadm_configuration_are_both_named(
        knowledge: Knowledge) -> None:
    """kubeadm's ClusterConfiguration passes them as extraArgs feature-gates to the control plane (the snapshot
    reads them into control_plane.feature_gates)."""
    snap = Snapshot(server_version="v1.24.17", control_plane=ControlPlane(
        visible=True, source="kubeadm-config",
        apiserver_args=["--feature-gates=IPv6DualStack=true,TTLAfterFinished=true"],
        controller_manager_args=["--feature-gates=IPv6DualStack=true,TTLAfterFinished=true"],
        feature_gates={"IPv6DualStack": True, "TTLAfterFinished": True}))
    report = _plan(snap, "1.24", "1.25", knowledge)
    gates = {f.object.name: f for f in _by(report, "removed-feature-gate")}
    assert set(gates) == {"IPv6DualStack", "TTLAfterFinished"}
    assert all(f.severity == "blocker" and f.hop == "1.24.17→1.25.16" for f in gates.values())
    assert "remove IPv6DualStack from --feature-gates" in gates["IPv6DualStack"].fix
    assert report.verdict == "broke"


def test_kubeadm_gates(knowledge: Knowledge) -> None:
    snap = Snapshot(server_version="v1.25.16", control_plane=ControlPlane(
        visible=True, kubeadm_feature_gates={"UnversionedKubeletConfigMap": True, "PublicKeysECDSA": True}))
    [finding] = _by(_plan(snap, "1.25", "1.26", knowledge), "removed-feature-gate")
    assert (finding.object.apiVersion, finding.object.name) == ("kubeadm", "UnversionedKubeletConfigMap")
    assert "ClusterConfiguration featureGates" in finding.fix


# ---- kubelet and kube-proxy ---------------------------------------------------------------------------------------

def _nodes_snapshot(version: str) -> Snapshot:
    proxy = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration", "mode": "userspace",
             "udpIdleTimeout": "250ms", "iptables": {"masqueradeAll": True},
             "featureGates": {"IPv6DualStack": True}}
    daemonset = {"apiVersion": "apps/v1", "kind": "DaemonSet",
                 "metadata": {"namespace": "kube-system", "name": "kube-proxy"},
                 "spec": {"template": {"spec": {"containers": [{
                     "name": "kube-proxy", "command": ["/usr/local/bin/kube-proxy"],
                     "args": ["--config=/var/lib/kube-proxy/config.conf", "--udp-timeout=250ms",
                              "--logtostderr=true", "--feature-gates=PodOverhead=true"]}]}}}}
    return Snapshot(server_version=version, nodes=[NodeInfo(name="node-1", kubelet_version=version)],
                    objects=[_config_map("kube-proxy", "config.conf", proxy), daemonset])


def test_kube_proxy_configuration_and_flags_from_kubeadms_objects(knowledge: Knowledge) -> None:
    report = _plan(_nodes_snapshot("v1.24.17"), "1.24", "1.26", knowledge)
    gates = {(f.object.apiVersion, f.object.name): f.hop for f in _by(report, "removed-feature-gate")}
    assert gates == {("kube-proxy", "IPv6DualStack"): "1.24.17→1.25.16",
                     ("kube-proxy", "PodOverhead"): "1.25.16→1.26.15"}
    flags = {f.object.name: f.hop for f in _by(report, "removed-flag")}
    assert flags == {"--udp-timeout": "1.25.16→1.26.15", "--logtostderr": "1.25.16→1.26.15"}
    [field] = _by(report, "removed-config-field")
    assert (field.severity, field.object.name, field.hop) == ("warning", "udpIdleTimeout", "1.25.16→1.26.15")
    assert "ignored" in field.cause and "KubeProxyConfiguration" in field.fix
    [userspace] = _by(report, "behaviour-change")
    assert userspace.severity == "blocker" and "userspace" in userspace.cause and "#112133" in userspace.cause


def test_kubelet_configuration_from_the_snapshot_field_and_the_flag_note(knowledge: Knowledge) -> None:
    """``Snapshot.component_configs`` (when the snapshot model has it) takes precedence over the objects."""
    snap = Snapshot(server_version="v1.30.14", nodes=[NodeInfo(name="node-1", kubelet_version="v1.30.14")])
    snap.component_configs = {  # type: ignore[attr-defined]
        "kubelet": {"kind": "KubeletConfiguration", "featureGates": {"JobReadyPods": True, "CPUManager": True}}}
    report = _plan(snap, "1.30", "1.31", knowledge)
    [gate] = _by(report, "removed-feature-gate")
    assert (gate.object.apiVersion, gate.object.name, gate.hop) == ("kubelet", "JobReadyPods", "1.30.14→1.31.14")
    assert "the configuration file's featureGates" in gate.fix
    [note] = [n for n in report.notes if "kubelet command-line flags are not visible" in n]
    assert "--keep-terminated-pod-volumes" in note


# ---- behaviour changes --------------------------------------------------------------------------------------------

def test_an_image_from_k8s_gcr_io_gets_the_registry_notice(knowledge: Knowledge) -> None:
    snap = Snapshot(server_version="v1.27.16", workloads=[
        WorkloadInfo(kind="DaemonSet", namespace="kube-system", name="node-local-dns",
                     images=["k8s.gcr.io/dns/k8s-dns-node-cache:1.22.20"]),
        WorkloadInfo(kind="Deployment", namespace="web", name="shop", images=["registry.k8s.io/pause:3.9"])])
    [notice] = _by(_plan(snap, "1.27", "1.28", knowledge), "behaviour-change")
    assert (notice.severity, notice.hop, notice.object.kind) == ("warning", None, "Image")
    assert "k8s.gcr.io/dns/k8s-dns-node-cache:1.22.20 in DaemonSet/kube-system/node-local-dns" in notice.cause
    assert "https://kubernetes.io/blog/2023/02/06/k8s-gcr-io-freeze-announcement/" in notice.cause
    assert "registry.k8s.io" in notice.fix and notice.evidence == "predicted"


@pytest.mark.parametrize(("runtime", "expected"), [
    ("containerd://1.7.22", "blocker"), ("containerd://1.6.33", "blocker"), ("containerd://2.0.4", None),
    ("cri-o://1.35.1", None)])
def test_containerd_1_going_to_1_36(knowledge: Knowledge, runtime: str, expected: str | None) -> None:
    snap = Snapshot(server_version="v1.35.8", nodes=[
        NodeInfo(name="node-1", kubelet_version="v1.35.8", container_runtime=runtime)])
    found = _by(_plan(snap, "1.35", "1.36", knowledge), "behaviour-change")
    assert [f.severity for f in found] == ([expected] if expected else [])
    assert not _by(_plan(snap, "1.34", "1.35", knowledge), "behaviour-change")


def test_in_tree_cloud_provider(knowledge: Knowledge) -> None:
    snap = Snapshot(server_version="v1.28.15", control_plane=ControlPlane(
        visible=True, controller_manager_args=["--cloud-provider=aws"], apiserver_args=["--cloud-provider=external"]))
    found = {f.hop: f for f in _by(_plan(snap, "1.28", "1.31", knowledge), "behaviour-change")}
    assert {h: f.severity for h, f in found.items()} == {"1.28.15→1.29.15": "warning",
                                                        "1.30.14→1.31.14": "blocker"}
    assert "kube-controller-manager --cloud-provider=aws" in found["1.30.14→1.31.14"].cause
    assert "kube-apiserver" not in found["1.30.14→1.31.14"].cause


def test_pod_security_policies_name_the_namespaces_they_governed(knowledge: Knowledge) -> None:
    snap = Snapshot(
        server_version="v1.24.17",
        objects=[{"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "restricted"}},
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "already", "labels": {
                     "pod-security.kubernetes.io/enforce": "restricted"}}}],
        workloads=[WorkloadInfo(kind="Deployment", namespace="shop", name="web"),
                   WorkloadInfo(kind="StatefulSet", namespace="data", name="db"),
                   WorkloadInfo(kind="Deployment", namespace="already", name="ok")])
    [notice] = _by(_plan(snap, "1.24", "1.25", knowledge), "behaviour-change")
    assert notice.severity == "blocker" and notice.hop == "1.24.17→1.25.16"
    assert "namespaces data, shop" in notice.cause and "already" not in notice.cause
    assert "PodSecurityPolicy restricted" in notice.cause and PSP_SOURCE in notice.cause


def test_legacy_token_secrets_and_data_the_snapshot_does_not_hold(knowledge: Knowledge) -> None:
    snap = Snapshot(server_version="v1.28.15", nodes=[NodeInfo(name="n", kubelet_version="v1.28.15")])
    report = _plan(snap, "1.28", "1.29", knowledge)
    assert not _by(report, "behaviour-change")
    [note] = [n for n in report.notes if "behaviour changes not judged" in n]
    assert "legacy-service-account-tokens-cleaned-up (the snapshot holds no service-account token Secrets" in note
    snap.service_account_tokens = [{  # type: ignore[attr-defined]
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"namespace": "ci", "name": "deployer-token-x7k2p",
                     "labels": {"kubernetes.io/legacy-token-last-used": "2026-11-30"}}}]
    [notice] = _by(_plan(snap, "1.28", "1.30", knowledge), "behaviour-change")
    assert (notice.severity, notice.hop) == ("warning", "1.28.15→1.29.15")
    assert "Secret ci/deployer-token-x7k2p" in notice.cause and "from 1.29" in notice.cause


def test_cgroup_v1_when_the_snapshot_records_it(knowledge: Knowledge) -> None:
    node = NodeInfo(name="old-os", kubelet_version="v1.34.12", container_runtime="containerd://2.1.0")
    snap = Snapshot(server_version="v1.34.12", nodes=[node])
    report = _plan(snap, "1.34", "1.35", knowledge)
    assert not _by(report, "behaviour-change")
    assert any("cgroup-v1-refused (the snapshot records no cgroup version" in n for n in report.notes)
    node.cgroup_version = "v1"  # type: ignore[attr-defined]
    [notice] = _by(_plan(snap, "1.34", "1.35", knowledge), "behaviour-change")
    assert notice.severity == "blocker" and "old-os" in notice.cause


# ---- the notices file ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "problem"), [
    ({"select": "pods", "where": {"name": {"equals": "x"}}}, "'pods' is not one of"),
    ({"select": "nodes", "where": {"colour": {"equals": "x"}}}, "nodes have no field 'colour'"),
    ({"select": "nodes", "where": {"runtime": {"looks_like": "x"}}}, "expected one of"),
    ({"any": []}, "non-empty list"),
    ({"select": "images", "where": {"registry": {"in": "k8s.gcr.io"}}}, "expected a list"),
])
def test_a_malformed_notice_rule_is_an_input_error(tmp_path: Path, rule: dict[str, object], problem: str) -> None:
    entry = {"id": "mine", "hop": "1.30", "severity": "warning", "rule": rule, "cause": "c", "fix": "f",
             "source": "https://example.com"}
    (tmp_path / "notices.yaml").write_text(yaml.safe_dump({"entries": [entry]}), encoding="utf-8")
    with pytest.raises(InputError, match="field 'rule'") as err:
        load_knowledge([tmp_path])
    assert problem in str(err.value) and "notices.yaml: entries[0]" in str(err.value)


def test_a_users_notice_replaces_the_packaged_one_by_id(tmp_path: Path) -> None:
    entry = {"id": "k8s-gcr-io-frozen", "hop": ["1.30", "1.31"], "severity": "info",
             "rule": {"select": "images", "where": {"registry": {"prefix": "k8s.gcr"}}}, "cause": "ours",
             "fix": "f", "source": "https://example.com/ours"}
    (tmp_path / "notices.yaml").write_text(yaml.safe_dump({"entries": [entry]}), encoding="utf-8")
    k = load_knowledge([tmp_path])
    [ours] = [n for n in k.notices if n.id == "k8s-gcr-io-frozen"]
    assert (ours.hops, ours.severity, ours.source) == (("1.30", "1.31"), "info", "https://example.com/ours")
    assert len(k.notices) == len(load_knowledge().notices)
