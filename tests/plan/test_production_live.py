"""Production, read-only, against a real kube-apiserver 1.25 (audit log on): the snapshot records kubeadm's
kubelet and kube-proxy configuration, token Secrets' metadata, node runtimes and the deprecated-API gauge, read
with the README's ``rehearse-snapshot`` ClusterRole (audit-proved get/list only); `plan` of that snapshot uses
them, and `plan --audit-log` on the log the server wrote names the client that lists autoscaling/v2beta2 HPAs
(removed in 1.26) as a blocker."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.binaries import BinarySet, ensure
from harness.binaries.bare import BareControlPlane, bare_control_plane
from harness.knowledge import Knowledge
from harness.plan import plan
from harness.report.model import Report
from harness.snapshot import load
from harness.snapshot.model import Snapshot
from harness.versions import catalogue

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "snapshot"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "kwokctl", "kubectl",
              "helm")
CALLER = "system:serviceaccount:monitoring:kube-state-metrics"
AGENT = "kube-state-metrics/v2.6.0 (linux/amd64) kubernetes/abc123"
SNAPSHOTTER = "system:serviceaccount:rehearse:snapshotter"
PLANTED = "PLANTED-kubelet-bearer-9f8e7d6c5b4a39281706"
PLANTED_TOKEN = "PLANTED-sa-token-data-1234567890"
CAT = catalogue()

pytestmark = pytest.mark.slow


def _yaml(doc: object) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


CLUSTER = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "kube-system", "name": "kubelet-config"},
     "data": {"kubelet": _yaml({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                                "cgroupDriver": "systemd", "featureGates": {"DynamicKubeletConfig": False},
                                "staticPodURLHeader": {"Authorization": [f"Bearer {PLANTED}"]}})}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "kube-system", "name": "kube-proxy"},
     "data": {"config.conf": _yaml({"apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                                    "kind": "KubeProxyConfiguration", "mode": "userspace"})}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ci"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rehearse"}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"namespace": "ci", "name": "deployer"}},
    {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
     "metadata": {"namespace": "ci", "name": "deployer-token-x7k2p",
                  "annotations": {"kubernetes.io/service-account.name": "deployer"},
                  "labels": {"kubernetes.io/legacy-token-last-used": "2025-11-30"}},
     "stringData": {"token": PLANTED_TOKEN}},
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"namespace": "monitoring", "name": "kube-state-metrics"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "ksm"},
     "rules": [{"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list", "watch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ksm"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ksm"},
     "subjects": [{"kind": "ServiceAccount", "namespace": "monitoring", "name": "kube-state-metrics"}]},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"namespace": "rehearse", "name": "snapshotter"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "snapshotter"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rehearse-snapshot"},
     "subjects": [{"kind": "ServiceAccount", "namespace": "rehearse", "name": "snapshotter"}]},
]


def _readme_role() -> dict[str, object]:
    """The read-only ClusterRole exactly as README.md documents it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "name: rehearse-snapshot" in b)
    role: dict[str, object] = yaml.safe_load(block)
    return role


def _kubectl(bins: BinarySet, kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run([str(bins.path("kubectl")), "--kubeconfig", str(kubeconfig), *args], input=stdin,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def _token(bins: BinarySet, kubeconfig: Path, namespace: str, sa: str) -> str:
    return _kubectl(bins, kubeconfig, "create", "token", sa, "-n", namespace).strip()


def _get(cp: BareControlPlane, path: str, token: str, agent: str) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(cp.url + path, headers={"Authorization": f"Bearer {token}", "User-Agent": agent})
    with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
        return int(resp.status)


def _rehearse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=180,
                          check=False, env={**os.environ, "CI": "1", "PYTHONPATH": str(ROOT)})


class Prod:
    def __init__(self, cp: BareControlPlane, snapshot: Path, stderr: str) -> None:
        self.cp, self.snapshot_file, self.stderr = cp, snapshot, stderr
        self.snap: Snapshot = load(snapshot)


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prod]:
    bins = ensure(CAT.resolve("1.25"), COMPONENTS)
    workdir = tmp_path_factory.mktemp("production")
    with bare_control_plane(bins.directory, workdir / "cp", audit=True) as cp:
        admin = cp.kubeconfig()
        _kubectl(bins, admin, "create", "-f", str(FIXTURES / "nodes.yaml"))
        docs = [_readme_role(), *CLUSTER]
        _kubectl(bins, admin, "create", "-f", "-", stdin="---\n".join(_yaml(d) for d in docs))
        token = _token(bins, admin, "monitoring", "kube-state-metrics")
        for _ in range(3):  # kube-state-metrics v2.6.0's HPA collector, as its client lists
            assert _get(cp, "/apis/autoscaling/v2beta2/horizontalpodautoscalers?limit=500", token, AGENT) == 200
        ro = cp.kubeconfig(workdir / "ro.kubeconfig", token=_token(bins, admin, "rehearse", "snapshotter"))
        out = workdir / "prod.yaml"
        result = _rehearse("snapshot", "--kubeconfig", str(ro), "-o", str(out))
        assert result.returncode == 0, result.stderr
        time.sleep(0.5)  # blocking audit mode: written before the answer; a margin for the file system
        yield Prod(cp, out, result.stderr)


def _events(log: Path, user: str) -> list[dict[str, object]]:
    return [e for e in map(json.loads, log.read_text().splitlines())
            if e.get("user", {}).get("username") == user and e.get("stage") == "ResponseComplete"]


def test_snapshot_reads_with_the_readme_identity_get_and_list_only(prod: Prod) -> None:
    events = _events(prod.cp.audit_log, SNAPSHOTTER)
    verbs = {str(e["verb"]) for e in events}
    assert "list" in verbs and verbs <= {"get", "list"}, sorted(verbs)
    metrics = [e for e in events if e["requestURI"] == "/metrics"]
    assert [(e["verb"], e["responseStatus"]["code"]) for e in metrics] == [("get", 200)]  # type: ignore[index]
    assert not any("/proxy" in str(e["requestURI"]) for e in events)  # never nodes/proxy
    assert not [n for n in prod.snap.not_readable if "metrics" in n or "configmaps" in n or "secrets" in n]


def test_snapshot_records_deprecated_api_requests_configs_tokens_and_runtimes(prod: Prod) -> None:
    snap = prod.snap
    calls = {(r.group, r.version, r.resource): r.removed_release for r in snap.deprecated_api_requests or []}
    assert calls[("autoscaling", "v2beta2", "horizontalpodautoscalers")] == "1.26"
    assert "since it last started" in snap.source["deprecated-apis"]
    assert "production still calls deprecated autoscaling/v2beta2 horizontalpodautoscalers, removed in 1.26" \
        in prod.stderr
    kubelet = snap.component_configs["kubelet"]
    assert kubelet["featureGates"] == {"DynamicKubeletConfig": False} and kubelet["cgroupDriver"] == "systemd"
    assert snap.component_configs["kube-proxy"]["mode"] == "userspace"
    [token] = snap.service_account_tokens or []
    assert token["metadata"]["labels"] == {"kubernetes.io/legacy-token-last-used": "2025-11-30"}
    assert token["type"] == "kubernetes.io/service-account-token" and "data" not in token
    assert {n.container_runtime for n in snap.nodes} == {"containerd://1.7.13", "containerd://1.6.28"}
    text = prod.snapshot_file.read_text()
    assert PLANTED not in text and PLANTED_TOKEN not in text
    assert any("ConfigMap kube-system/kubelet-config" in m for m in snap.masked)


def _plan(snap: Snapshot | None, knowledge: Knowledge, audit: list[Path] | None = None) -> Report:
    return plan(CAT.resolve("1.25"), CAT.resolve("1.26"), snapshot=snap, manifest_paths=[], knowledge=knowledge,
                audit_logs=audit or [])


def test_plan_of_the_snapshot_uses_what_it_recorded(prod: Prod, knowledge: Knowledge) -> None:
    report = _plan(prod.snap, knowledge)
    [calls] = [f for f in report.findings if f.kind == "production-calls-removed-api"]
    assert calls.severity == "warning" and str(calls.hop).endswith(f"→{CAT.resolve('1.26')}")
    assert "production still calls autoscaling/v2beta2 horizontalpodautoscalers" in calls.cause
    assert "rehearse plan --audit-log" in calls.cause and "autoscaling/v2" in calls.fix
    gates = {f.object.name: f for f in report.findings if f.kind == "removed-feature-gate"}
    assert gates["DynamicKubeletConfig"].object.apiVersion == "kubelet"  # only in component_configs
    notices = " ".join(f.cause for f in report.findings if f.kind == "behaviour-change")
    assert "userspace" in notices


def test_plan_audit_log_names_the_caller_as_a_blocker(prod: Prod, knowledge: Knowledge, tmp_path: Path) -> None:
    log = prod.cp.audit_log
    report = _plan(None, knowledge, [log])
    blockers = [f for f in report.findings if f.kind == "calls-removed-api" and f.severity == "blocker"]
    [finding] = [f for f in blockers if CALLER in f.object.name]
    assert AGENT in finding.object.name and "3 calls (list; HTTP 200)" in finding.cause
    assert "no longer served from 1.26" in finding.cause and "autoscaling/v2" in finding.fix
    assert not [f for f in blockers if SNAPSHOTTER in f.object.name]
    # gzip, through the CLI: exit 1 (blockers), the caller named
    packed = tmp_path / "audit.log.gz"
    with log.open("rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    result = _rehearse("plan", "--from", "1.25", "--to", "1.26", "--audit-log", str(packed), "--json",
                       str(tmp_path / "plan.json"))
    assert result.returncode == 1, result.stderr
    found = json.loads((tmp_path / "plan.json").read_text())["findings"]
    assert [f["severity"] for f in found if CALLER in json.dumps(f)] == ["blocker"]
    bad = tmp_path / "not-audit.log"
    bad.write_text('{"kind": "Pod"}\n')
    result = _rehearse("plan", "--from", "1.25", "--to", "1.26", "--audit-log", str(bad))
    assert result.returncode == 2 and "not an audit log" in result.stderr
