"""Verdicts that are evidence, on real rehearsals (local provider: real control plane, kwok nodes and pods).

Each test shows one case the verdict used to get wrong: a predicted blocker (its own section, exit 1, evidence
``predicted``), an object the cluster cannot take (listed and counted, never silently absent), a health wait
that runs out in silence (exit 3, not "the upgrade broke"), a cleanup that fails (the report survives it), and a
pytest check whose tests all skip (skipped, not passed).
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.checks import CheckContext, scenario_checks
from harness.errors import InfraError
from harness.providers.base import UpgradeFailed, component_failure
from harness.scenario import CheckSpec, load_scenario
from harness.snapshot.fileformat import dump
from harness.versions import Version
from tests.rehearsal._run import leftovers, rehearse, report

BAD_DEPLOYMENT: dict[str, Any] = {  # the apiserver refuses it: the selector does not match the template's labels
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mismatched", "namespace": "default"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
             "template": {"metadata": {"labels": {"app": "b"}},
                          "spec": {"containers": [{"name": "c", "image": "c:1"}]}}},
}


def _snapshot(tmp_path: Path) -> Path:
    """The default scenario's cluster with kubelets at 1.24 (1.28 allows 3 minors of skew: a predicted blocker)
    and one object the source version refuses."""
    snap = load_scenario("default").snapshot
    nodes = [dataclasses.replace(n, kubelet_version="v1.24.17") for n in snap.nodes]
    snap = dataclasses.replace(snap, server_version="v1.27.16", nodes=nodes, objects=[*snap.objects, BAD_DEPLOYMENT])
    path = tmp_path / "prod.yaml"
    path.write_text(dump(snap))
    return path


@pytest.mark.slow
def test_predicted_blocker_and_unrecreatable_object(tmp_path: Path) -> None:
    out_dir = tmp_path / "report"
    out = rehearse("run", "--from", "1.27", "--to", "1.28", "--snapshot", str(_snapshot(tmp_path)),
                   "--report-dir", str(out_dir), "--provider", "local", state=tmp_path / "state")
    assert out.returncode == 1, out.stdout + out.stderr  # a blocker predicted for the hop: the upgrade's fault
    doc = report(out_dir)
    assert doc["schema"] == "rehearse/report/v2" and doc["verdict"] == "broke"
    assert not [c for c in doc["checks"] if c["classification"] == "broke"]  # nothing was seen to break
    skew = [f for f in doc["findings"] if f["kind"] == "kubelet-skew"]
    assert skew and skew[0]["evidence"] == "predicted" and skew[0]["hop"]
    assert "kubelets" in skew[0]["basis"] and "kwok" in skew[0]["basis"]

    missing = doc["coverage"]["not_recreated"]
    assert [m["object"]["name"] for m in missing] == ["mismatched"]
    assert "selector" in missing[0]["reason"]
    assert doc["coverage"]["objects_recreated"] > 0
    assert not any(c["id"].endswith("/default/mismatched") for c in doc["checks"] if c["id"].startswith("workload/"))

    md = (out_dir / "summary.md").read_text()
    headings = [md.index(h) for h in ("Broke in this rehearsal", "Predicted to break (not observable here)",
                                      "Already broken before the upgrade", "Not judged")]
    assert headings == sorted(headings)
    predicted = md[headings[1]:headings[2]]
    assert "kubelet" in predicted and "predicted" in predicted
    assert "mismatched" in md[headings[3]:]
    assert "Predicted to break" in out.stdout and "kubelet" in out.stdout
    junit = (out_dir / "junit.xml").read_text()
    assert 'name="predicted"' in junit and "mismatched" in junit
    assert not leftovers(tmp_path / "state")


def _run_in_process(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    from harness.cli import main

    monkeypatch.setenv("REHEARSE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CI", "true")
    return main(args)


@pytest.mark.slow
def test_health_wait_that_runs_out_in_silence_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow machine: the new kube-apiserver is given no time at all, so the wait runs out before it says
    anything. That is not "the upgrade broke" (1) but "cannot tell / the environment" (3), said in the report."""
    from harness.providers.local import upgrade

    monkeypatch.setattr(upgrade, "HEALTH_TIMEOUT", 0.0)
    out_dir = tmp_path / "report"
    code = _run_in_process(["run", "--from", "1.27", "--to", "1.28", "--provider", "local",
                            "--report-dir", str(out_dir)], tmp_path, monkeypatch)
    assert code == 3
    doc = report(out_dir)
    assert doc["verdict"] == "error"
    assert "named no cause" in doc["error"] and "kube-apiserver" in doc["error"]
    assert not [c for c in doc["checks"] if c["classification"] == "broke"]
    counts = doc["coverage"]["checks"]  # every check unjudged after: not run (or skipped where pods are simulated)
    assert counts["not-run"] + counts["skipped"] == len(doc["checks"]) and counts["not-run"] > 0
    assert not any(p["name"] == "check-after" for p in doc["phases"])  # the rehearsal stopped at the hop
    assert {c["classification"] for c in doc["checks"]} <= {"unverified", "not-judged"}
    assert not leftovers(tmp_path / "state")


@pytest.mark.slow
def test_cleanup_failure_is_appended_to_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report is written before the cluster is deleted; a deletion that fails is added to it (exit 3), and
    the judged checks are still there."""
    from harness.providers.local.provider import LocalProvider

    real_delete = LocalProvider.delete
    deleted: list[str] = []

    def failing_delete(self: LocalProvider, cluster: Any) -> None:
        real_delete(self, cluster)  # really delete, so nothing is left running, then fail as a full disk would
        deleted.append(getattr(cluster, "name", str(cluster)))
        raise InfraError("kwokctl delete cluster failed: no space left on device")

    monkeypatch.setattr(LocalProvider, "delete", failing_delete)
    out_dir = tmp_path / "report"
    code = _run_in_process(["run", "--from", "1.27", "--to", "1.28", "--provider", "local",
                            "--report-dir", str(out_dir)], tmp_path, monkeypatch)
    assert code == 3 and deleted
    doc = json.loads((out_dir / "report.json").read_text())
    assert doc["verdict"] == "error" and "cleanup" in doc["error"] and "no space left" in doc["error"]
    assert doc["checks"] and all(c["classification"] == "ok" for c in doc["checks"]
                                 if c["before"] and c["before"]["outcome"] == "pass"
                                 and c["after"] and c["after"]["outcome"] == "pass")
    assert any(p["name"] == "cleanup" and p["status"] == "error" for p in doc["phases"])
    assert "no space left" in (out_dir / "summary.md").read_text()


def test_pytest_check_whose_tests_all_skip_is_skipped(tmp_path: Path) -> None:
    """pytest exits 0 when every test skips; that judged nothing, so the check is ``skip``, never ``pass``."""
    (tmp_path / "test_probe.py").write_text(textwrap.dedent("""\
        import pytest

        def test_a():
            pytest.skip("needs a real container")

        @pytest.mark.skip(reason="not here")
        def test_b():
            pass
    """))
    (tmp_path / "test_real.py").write_text("def test_ok():\n    assert True\n")
    ctx = CheckContext(api_client=None, kubeconfig=tmp_path / "kubeconfig", version=Version(1, 28, 15),
                       phase="before", simulated_pods=True)
    skipping, passing = scenario_checks([CheckSpec(id="probe", type="pytest", description="", timeout=60,
                                                   params={"file": "test_probe.py"}),
                                         CheckSpec(id="real", type="pytest", description="", timeout=60,
                                                   params={"file": "test_real.py"})], tmp_path)
    run = skipping.run(ctx)
    assert run.outcome == "skip" and "every test skipped" in run.message
    run = passing.run(ctx)
    assert run.outcome == "pass" and run.evidence == "simulated"  # kwok answers on the local provider


@pytest.mark.parametrize(("cause", "waited", "expected"), [
    ("E1205 12:00:00.1 server.go:1 unrecognized feature gate: DevicePlugins", None, UpgradeFailed),
    ("Error: unknown flag: --insecure-port", None, UpgradeFailed),
    ("/readyz: [-]etcd failed: reason withheld", 90.0, UpgradeFailed),
    ("E1205 listen tcp 127.0.0.1:6443: bind: address already in use", None, InfraError),
    ("F1205 write /var/lib/etcd: no space left on device", None, InfraError),
    ("", 90.0, InfraError),  # a wait that ran out in silence
    ("", None, InfraError),  # exited without a word: killed from outside
])
def test_the_one_rule_for_a_component_that_does_not_come_up(cause: str, waited: float | None,
                                                             expected: type[Exception]) -> None:
    err = component_failure("kube-apiserver", Version(1, 28, 15), cause, waited=waited)
    assert type(err) is expected
    assert (cause in str(err)) if cause else ("named no cause" in str(err))
