"""Every bundled scenario, rehearsed end to end on the local provider through the real command line: the verdict,
exit code, the checks classified broke and the findings (with their fixes) are the ones the scenario declares."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema

from harness.scenario import list_scenarios, load_scenario
from tests.rehearsal._run import leftovers, rehearse, report

pytestmark = pytest.mark.slow

XSD = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"
SCENARIOS = [p.stem for p in list_scenarios()]


def test_default_scenario_is_bundled() -> None:
    assert "default" in SCENARIOS


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_rehearses_as_declared(name: str, tmp_path: Path) -> None:
    sc = load_scenario(name)
    out_dir = tmp_path / "report"
    args = ["run", "--scenario", name, "--report-dir", str(out_dir), "--junit", str(tmp_path / "extra.xml")]
    if name == "default":  # the README's command: the default scenario is what runs without a source
        args = ["--from", str(sc.from_version), "--to", str(sc.to_version), "--report-dir", str(out_dir),
                "--junit", str(tmp_path / "extra.xml")]
    out = rehearse(*args, state=tmp_path / "state")
    expect = sc.expect
    verdict = expect.get("verdict", "pass")
    assert out.returncode == {"pass": 0, "broke": 1}[verdict], out.stdout + out.stderr
    doc = report(out_dir)
    assert doc["verdict"] == verdict and doc["scenario"] == name
    for f in ("report.json", "junit.xml", "summary.md", "report.html"):
        assert (out_dir / f).stat().st_size > 0
    xmlschema.XMLSchema(str(XSD)).validate(str(out_dir / "junit.xml"))
    assert (tmp_path / "extra.xml").read_bytes() == (out_dir / "junit.xml").read_bytes()
    assert (out_dir / "logs" / "kube-apiserver.log").exists()

    by_id = {c["id"]: c for c in doc["checks"]}
    broke = {c["id"] for c in doc["checks"] if c["classification"] == "broke"}
    assert set(expect.get("broke", [])) == broke, sorted(broke)
    for check_id in broke:
        assert by_id[check_id]["before"]["outcome"] == "pass" and by_id[check_id]["after"]["outcome"] != "pass"
    for want in expect.get("findings", []):
        matches = [f for f in doc["findings"] if f["kind"] == want["kind"]
                   and all(f["object"].get(k) == v for k, v in want.get("object", {}).items())]
        assert matches, f"missing finding {want}"
        assert all(m["cause"] and m["fix"] for m in matches)
    # Pods are simulated on the local provider: container checks are skipped, never passed, and listed as
    # not judged; what kwok answers is marked simulated.
    for c in doc["checks"]:
        if c["id"] in {s.id for s in sc.checks if s.type in ("http", "exec")}:
            assert c["classification"] == "not-judged" and c["before"]["outcome"] == "skip"
        if c["id"] == "nodes-ready" or c["id"].startswith("workload/"):
            assert c["evidence"] == "simulated", c
        if c["id"] == "api-healthy" or c["id"].startswith("reapply/"):
            assert c["evidence"] == "observed", c
    cov = doc["coverage"]
    assert sum(cov["checks"].values()) == len(doc["checks"])
    assert cov["checks"]["simulated"] > 0 and any("kwok" in part for part in cov["simulated"])
    assert not leftovers(tmp_path / "state")
