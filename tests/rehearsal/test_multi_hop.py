"""A jump of two minors runs as two consecutive hops over the same cluster, each its own phase in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rehearsal._run import leftovers, rehearse, report

pytestmark = pytest.mark.slow


def test_two_minor_jump_runs_as_two_hops(tmp_path: Path) -> None:
    out = rehearse("--from", "1.27", "--to", "1.29", "--report-dir", str(tmp_path / "r"), state=tmp_path / "s")
    doc = report(tmp_path / "r")
    # Nothing the rehearsal checked broke, but the plan that runs first knows that the default scenario's
    # cert-manager 1.13 and ingress-nginx 1.9 are not supported on 1.29 by their maintainers: blockers of the
    # second hop, so the verdict is "broke" (exit 1) -- and nothing else is.
    assert out.returncode == 1, out.stdout + out.stderr
    assert doc["verdict"] == "broke"
    assert not [c for c in doc["checks"] if c["classification"] == "broke"]
    blockers = [f for f in doc["findings"] if f["severity"] == "blocker"]
    assert {f["kind"] for f in blockers} == {"addon-unsupported"}
    assert {f["object"]["name"].split()[0] for f in blockers} == {"cert-manager", "ingress-nginx"}
    assert {f["hop"] for f in blockers} == {"1.28.15→1.29.15"}
    assert doc["hops"] == ["1.28.15", "1.29.15"] and doc["from"] == "1.27.16" and doc["to"] == "1.29.15"
    upgrades = [p for p in doc["phases"] if p["name"].startswith("upgrade")]
    assert [p["name"] for p in upgrades] == ["upgrade 1.28.15", "upgrade 1.29.15"]
    assert all(p["status"] == "ok" and p["details"]["api_downtime_seconds"] >= 0 for p in upgrades)
    assert {c["id"]: c for c in doc["checks"]}["api-healthy"]["after"]["message"].endswith("v1.29.15")
    assert not leftovers(tmp_path / "s")
