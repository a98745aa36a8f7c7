"""A feature gate the target removed: the upgrade fails with the component's own words, reported as what the
upgrade broke (exit 1) with the gate named, and the cluster is still cleaned up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rehearsal._run import leftovers, rehearse, report

pytestmark = pytest.mark.slow

SCENARIO = """\
schema: rehearse/scenario/v1
name: removed-gate
from: "1.27"
to: "1.28"
nodes: [{name: worker-1}]
control_plane:
  feature_gates: {DevicePlugins: true}   # GA in 1.26, accepted by 1.27, refused by 1.28
manifests: [app.yaml]
"""

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
"""


def test_removed_feature_gate_breaks_the_upgrade(tmp_path: Path) -> None:
    (tmp_path / "removed-gate.yaml").write_text(SCENARIO)
    (tmp_path / "app.yaml").write_text(APP)
    out_dir = tmp_path / "report"
    out = rehearse("run", "--scenario", str(tmp_path / "removed-gate.yaml"), "--report-dir", str(out_dir),
                   state=tmp_path / "state")
    assert out.returncode == 1, out.stdout + out.stderr
    doc = report(out_dir)
    assert doc["verdict"] == "broke"
    gates = [f for f in doc["findings"] if f["kind"] == "removed-feature-gate"]
    assert gates and gates[0]["object"]["name"] == "DevicePlugins"
    assert "unrecognized feature gate: DevicePlugins" in gates[0]["cause"]
    assert "DevicePlugins" in gates[0]["fix"]
    upgrade = next(p for p in doc["phases"] if p["name"].startswith("upgrade"))
    assert upgrade["status"] == "failed"
    # The refusal is what broke (observed, for the hop); the checks after it were not run, because the cluster
    # is not at the target: each passed before and is "unverified after the upgrade", none is "broke".
    assert gates[0]["evidence"] == "observed" and gates[0]["hop"]
    api = {c["id"]: c for c in doc["checks"]}["api-healthy"]
    assert api["classification"] == "unverified"
    assert api["before"]["outcome"] == "pass" and api["after"]["outcome"] == "not-run"
    assert "not run: the upgrade to" in api["after"]["message"]
    assert not [c for c in doc["checks"] if c["classification"] == "broke"]
    assert doc["coverage"]["checks"]["not-run"] == len(doc["checks"])
    assert not leftovers(tmp_path / "state")
