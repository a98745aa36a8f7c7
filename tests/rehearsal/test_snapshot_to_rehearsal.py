"""The production path end to end: a live cluster (the default scenario recreated on a real 1.27 control plane)
is snapshotted by the real CLI, the cluster is gone, and `rehearse run --snapshot` rehearses 1.27 → 1.28 from
the file alone -- custom resources at the versions production wrote them, Helm releases listed by helm."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.binaries import BinarySet
from harness.kube import api_client
from harness.providers.local import LocalProvider
from harness.provision import cluster_options
from harness.recreate import recreate
from harness.scenario import load_scenario
from tests.rehearsal._run import leftovers, rehearse, report

pytestmark = pytest.mark.slow


def test_snapshot_of_a_live_cluster_rehearses(bin127: BinarySet, bin128: BinarySet, tmp_path: Path) -> None:
    scenario = load_scenario("default")
    provider = LocalProvider(root=tmp_path / "prod-state")
    options, _ = cluster_options(scenario.snapshot)
    with provider.cluster("prod", bin127.version, options) as prod:
        recreate(api_client(prod.kubeconfig), scenario.snapshot)
        # production's own writer of record (kubectl, not rehearse) applies the Widget at its old version
        subprocess.run([str(bin127.path("kubectl")), "--kubeconfig", str(prod.kubeconfig), "apply", "-f",
                        str(Path(__file__).resolve().parents[2] / "fixtures/default/manifests/35-widgets.yaml")],
                       check=True, capture_output=True, timeout=60)
        snap = tmp_path / "prod.yaml"
        out = rehearse("snapshot", "--kubeconfig", str(prod.kubeconfig), "-o", str(snap), state=tmp_path / "x")
        assert out.returncode == 0, out.stderr
    assert not leftovers(tmp_path / "prod-state")

    text = snap.read_text()
    assert "schema: rehearse/snapshot/v1" in text
    run = rehearse("run", "--snapshot", str(snap), "--from", "1.27", "--to", "1.28", "--report-dir",
                   str(tmp_path / "r"), state=tmp_path / "s")
    assert run.returncode == 0, run.stdout + run.stderr
    doc = report(tmp_path / "r")
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["reapply/Widget/shop/storefront-banner"]["name"].endswith("as example.com/v1alpha1")
    assert checks["helm-releases-listed"]["classification"] == "ok"
    assert checks["workload/Deployment/ingress-nginx/ingress-nginx-controller"]["classification"] == "ok"
    assert len([c for c in doc["checks"] if c["id"].startswith("reapply/")]) > 80
    assert any(f["kind"] == "deprecation" and f["object"]["kind"] == "Widget" for f in doc["findings"])
    assert not leftovers(tmp_path / "s")
