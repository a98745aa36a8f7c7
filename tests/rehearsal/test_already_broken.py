"""An object the current version cannot take (its CRD is missing from the snapshot) is already broken: a finding
with no hop, the check classified already-broken, and the verdict still pass -- the upgrade did not break it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rehearsal._run import leftovers, rehearse, report

pytestmark = pytest.mark.slow

SCENARIO = """\
schema: rehearse/scenario/v1
name: orphan-cr
from: "1.27"
to: "1.28"
nodes: [{name: worker-1}]
manifests: [objects.yaml]
"""

OBJECTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {a: b}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: orphan, namespace: default}
spec: {size: 3}
"""


def test_already_broken_object_does_not_make_the_upgrade_broke(tmp_path: Path) -> None:
    (tmp_path / "orphan-cr.yaml").write_text(SCENARIO)
    (tmp_path / "objects.yaml").write_text(OBJECTS)
    out = rehearse("run", "--scenario", str(tmp_path / "orphan-cr.yaml"), "--report-dir", str(tmp_path / "r"),
                   state=tmp_path / "s")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = report(tmp_path / "r")
    assert doc["verdict"] == "pass"
    check = {c["id"]: c for c in doc["checks"]}["reapply/Gadget/default/orphan"]
    assert check["classification"] == "already-broken"
    about = [f for f in doc["findings"] if f["object"]["name"] == "orphan"]
    assert about and all(f["hop"] is None for f in about)
    assert len({f["kind"] for f in about}) == len(about)  # one finding per kind, not one per phase
    assert not leftovers(tmp_path / "s")
