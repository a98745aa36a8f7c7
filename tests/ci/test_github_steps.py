"""The GitHub template run here by ``scripts/ci_github_steps.py``: every job in ``needs`` order, each ``run:`` step
executed by bash as on a runner, against the local provider, for a fleet of two clusters (one passes, one breaks).

What only GitHub can do is skipped with the reason recorded (the cache service, the checks API); checkout,
setup-python and the artifact transfer between jobs are emulated. The new user's view: nothing is set but the
matrix's snapshot paths."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.ci.conftest import (
    BROKE_SNAPSHOT,
    FLEET,
    WORKFLOW,
    GithubRun,
    junit_counts,
    leftovers,
    run_github_steps,
    validate_junit,
)

pytestmark = pytest.mark.slow

REHEARSE_STEPS = [  # (name, how it ran on a passing shard)
    ("Run actions/checkout@v4", "emulated"),
    ("Run actions/setup-python@v5", "emulated"),
    ("Install rehearse", "run"),
    ("Restore the Kubernetes binaries", "skipped"),
    ("Use the live snapshot taken tonight", "not-run"),
    ("Rehearse the upgrade", "run"),
    ("Save the Kubernetes binaries", "skipped"),
    ("Write the job summary", "run"),
    ("Upload the report", "emulated"),
    ("Publish the JUnit results", "skipped"),
    ("Fail when the rehearsal did not pass", "run"),
]


def _steps(job: dict[str, object]) -> list[dict[str, object]]:
    steps = job["steps"]
    assert isinstance(steps, list)
    return steps


def test_jobs_and_steps_run_in_order(github_run: GithubRun) -> None:
    run = github_run
    assert [(j["name"], j["result"]) for j in run.record["jobs"]] == [
        ("snapshot", "success"),
        ("rehearse eu-pass", "success"),
        ("rehearse us-broke", "failure"),
        ("merge", "failure"),
    ], run.output[-5000:]
    assert run.returncode == 1  # a job failed, as the workflow run would
    assert run.record["env"]["REHEARSE_FROM"] == "1.27" and run.record["env"]["REHEARSE_TO"] == "1.28"

    # Without the PROD_EU_KUBECONFIG secret the live snapshot job does nothing.
    snapshot = run.job("snapshot")
    assert {s["kind"] for s in _steps(snapshot)} == {"not-run"}

    for name, code in (("rehearse eu-pass", "0"), ("rehearse us-broke", "1")):
        steps = _steps(run.job(name))
        assert [(s["name"], s["kind"]) for s in steps] == REHEARSE_STEPS, name
        by_name = {str(s["name"]): s for s in steps}
        rehearse = by_name["Rehearse the upgrade"]
        assert rehearse["outcome"] == "success" and rehearse["outputs"] == {"exit-code": code}
        final = by_name["Fail when the rehearsal did not pass"]
        assert final["exit_code"] == int(code)
        for step in steps:
            if step["uses"]:
                assert step["pinned"], f"{step['uses']} is not pinned to a major version"
            if step["kind"] == "skipped":
                assert "GitHub's" in str(step["reason"])
    assert "::error title=rehearse us-broke::the upgrade broke something" in run.output

    merge = _steps(run.job("merge"))
    assert [(s["name"], s["kind"], s["outcome"]) for s in merge] == [
        ("Run actions/checkout@v4", "emulated", "success"),
        ("Run actions/setup-python@v5", "emulated", "success"),
        ("Install rehearse", "run", "success"),
        ("Download every cluster's report", "emulated", "success"),
        ("Merge the fleet report", "run", "success"),
        ("Write the job summary", "run", "success"),
        ("Upload the fleet report", "emulated", "success"),
        ("Fail when a cluster broke or errored", "run", "failure"),
    ]
    assert merge[4]["outputs"] == {"exit-code": "1"}  # rehearse report merge: a cluster broke
    assert merge[-1]["exit_code"] == 1
    assert not leftovers(run.state)


def test_each_shard_uploads_its_report_and_writes_the_job_summary(github_run: GithubRun) -> None:
    run = github_run
    for cluster, verdict in (("eu-pass", "pass"), ("us-broke", "broke")):
        shard = run.artifact(f"rehearse-report-{cluster}") / cluster
        for name in ("report.json", "junit.xml", "summary.md", "report.html", "rehearse.log"):
            assert (shard / name).is_file(), f"{shard / name} missing"
        report = json.loads((shard / "report.json").read_text())
        assert report["name"] == cluster and report["verdict"] == verdict
        assert report["from"].startswith("1.27.") and report["to"].startswith("1.28.")
        job = run.job(f"rehearse {cluster}")
        summary = (run.out / "jobs").glob(f"*-rehearse-{cluster}/summary.md")
        (summary_file,) = list(summary)
        assert summary_file.read_text() == (shard / "summary.md").read_text()
        heading = {"pass": "PASSED", "broke": "BROKE"}[verdict]
        assert summary_file.read_text().startswith(f"## rehearse: **{heading}**")
        publish = next(s for s in _steps(job) if s["name"] == "Publish the JUnit results")
        details = publish["details"]
        assert isinstance(details, dict) and details["matched"] == [f"reports/{cluster}/junit.xml"]
    broke_summary = (run.artifact("rehearse-report-us-broke") / "us-broke" / "summary.md").read_text()
    assert "DevicePlugins" in broke_summary


def test_fleet_report_junit_validates_and_reads_back(github_run: GithubRun) -> None:
    run = github_run
    fleet = run.artifact("rehearse-fleet-report")
    junit = fleet / "junit.xml"
    validate_junit(junit)
    counts = junit_counts(junit)
    for cluster in FLEET:
        shard = run.artifact(f"rehearse-report-{cluster}") / cluster
        own = junit_counts(shard / "junit.xml")
        ours = {name.split(" / ", 1)[1]: c for name, c in counts.items() if name.startswith(f"{cluster} / ")}
        assert ours == own, cluster  # one suite per cluster and phase, the shard's own counts
        phases = [p["name"] for p in json.loads((shard / "report.json").read_text())["phases"]]
        assert set(phases) <= set(ours)
    passed = [c for name, c in counts.items() if name.startswith("eu-pass / ")]
    assert sum(c["failures"] + c["errors"] for c in passed) == 0
    broke_report = json.loads((run.artifact("rehearse-report-us-broke") / "us-broke" / "report.json").read_text())
    # The upgrade stops at kube-apiserver 1.28, which refuses DevicePlugins: that refusal is what broke (observed);
    # the checks that passed before could not run after it (not judged), so they are skipped, not failed.
    (refusal,) = [f for f in broke_report["findings"] if f["evidence"] == "observed"]
    assert refusal["object"]["name"] == "DevicePlugins" and refusal["severity"] == "blocker"
    after = broke_report["checks"]
    assert after and {(c["classification"], c["after"]["outcome"]) for c in after} == {("unverified", "not-run")}
    broke = {name: c for name, c in counts.items() if name.startswith("us-broke / ")}
    assert broke["us-broke / check-after"] == {"tests": len(after), "failures": 0, "errors": 0, "skipped": len(after)}
    assert sum(c["failures"] for c in broke.values()) >= 1

    from junitparser import Failure, JUnitXml

    failed = {case.classname for suite in JUnitXml.fromfile(str(junit)) for case in suite
              if suite.name.startswith("us-broke / ") and any(isinstance(r, Failure) for r in case.result)}
    assert refusal["kind"] in failed

    summary = (fleet / "summary.md").read_text()
    assert "| eu-pass | 1.27." in summary and "| PASSED |" in summary
    assert "| us-broke | 1.27." in summary and "| **BROKE** |" in summary
    merge_summary = next((run.out / "jobs").glob("*-merge/summary.md")).read_text()
    assert merge_summary == summary
    doc = json.loads((fleet / "report.json").read_text())
    assert doc["verdict"] == "broke" and doc["counts"] == {"pass": 1, "broke": 1, "error": 0}


UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: prod-eu
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: viewer
  user: {token: PLANTED-token-not-for-logs}
contexts:
- name: prod-eu
  context: {cluster: prod-eu, user: viewer}
current-context: prod-eu
"""


def test_live_snapshot_job_uses_the_secret_and_fails_cleanly(tmp_path: Path) -> None:
    """With the PROD_EU_KUBECONFIG secret set the snapshot job runs `rehearse snapshot` on it (here: a cluster that
    cannot be reached, exit 3); nothing is uploaded, the kubeconfig file does not outlive the step, the token is in
    no log. (The rehearse jobs then run on the committed snapshots: ``if: ${{ !cancelled() }}``.)"""
    secret = f"--secret=PROD_EU_KUBECONFIG={UNREACHABLE_KUBECONFIG}"
    run = run_github_steps(tmp_path / "run", "--job", "snapshot", secret)
    (job,) = run.jobs("snapshot")
    assert job["result"] == "failure", run.output[-3000:]
    by_name = {s["name"]: s for s in job["steps"]}
    snap = by_name["Snapshot the live cluster (read-only)"]
    assert snap["kind"] == "run" and snap["exit_code"] == 3
    assert "cannot reach the cluster at https://127.0.0.1:1" in run.output
    assert by_name["Run actions/upload-artifact@v4"]["kind"] == "not-run"
    assert job["outputs"] == {"cluster": ""}
    temp = Path(job["workspace"]).parent / "temp"
    assert not (temp / "kubeconfig").exists()
    assert "PLANTED-token-not-for-logs" not in run.output
    assert "PLANTED-token-not-for-logs" not in (run.out / "run.json").read_text()
    assert not (run.out / "artifacts" / "snapshot-prod-eu").exists()


BASH = shutil.which("bash")


def _step(job: dict[str, object], name: str) -> dict[str, object]:
    (found,) = [s for s in _steps(job) if s["name"] == name]
    return found


def test_a_rehearsal_that_exits_1_fails_the_job_and_0_passes_it(github_run: GithubRun) -> None:
    """The real rehearsals of the session run: the step runs under ``shell: bash`` from the workflow's
    ``defaults.run``, so the pipe into tee keeps rehearse's exit code."""
    for cluster, code, result, verdict in (("eu-pass", "0", "success", "pass"),
                                           ("us-broke", "1", "failure", "broke")):
        job = github_run.job(f"rehearse {cluster}")
        step = _step(job, "Rehearse the upgrade")
        details = step["details"]
        assert isinstance(details, dict)
        assert details["shell"] == f"{BASH} --noprofile --norc -e -o pipefail {{0}}"
        assert details["shell_source"] == "the workflow's defaults.run"
        assert step["outputs"] == {"exit-code": code}
        assert job["result"] == result, cluster
        shard = github_run.artifact(f"rehearse-report-{cluster}") / cluster
        assert json.loads((shard / "report.json").read_text())["verdict"] == verdict


def unfixed_workflow(directory: Path) -> Path:
    """The nightly workflow as shipped before issue #13: this text without its ``defaults: run: shell: bash``."""
    text = WORKFLOW.read_text()
    unfixed, removed = re.subn(r"^(?:#[^\n]*\n)*defaults:\n  run:\n    shell: bash\n\n", "", text, flags=re.MULTILINE)
    assert removed == 1, "the workflow's defaults.run block changed: update this test"
    assert "shell:" not in unfixed and "set -o pipefail" not in unfixed and "PIPESTATUS" not in unfixed
    path = directory / "rehearse-nightly-unfixed.yml"
    path.write_text(unfixed)
    return path


def test_the_unfixed_workflow_goes_wrongly_green(tmp_path: Path) -> None:
    """Without the fix, the runner starts the step as GitHub does, ``bash -e {0}`` (no pipefail): a real rehearsal
    that exits 1 is piped into tee, ``code`` stays 0, and the job passes while the report says the upgrade broke.
    The runner shows GitHub's behaviour, not its own."""
    run = run_github_steps(tmp_path / "run", "--job", "rehearse", f"--fleet=us-broke={BROKE_SNAPSHOT}",
                           workflow=unfixed_workflow(tmp_path))
    (job,) = run.jobs("rehearse")
    step = _step(job, "Rehearse the upgrade")
    details = step["details"]
    assert isinstance(details, dict)
    assert details["shell"] == f"{BASH} -e {{0}}", run.output[-3000:]
    assert details["shell_source"] == "GitHub's default (no shell set)"
    assert (step["outcome"], step["outputs"]) == ("success", {"exit-code": "0"})
    assert job["result"] == "success" and run.returncode == 0
    assert "us-broke: nothing broke" in run.output
    shard = run.artifact("rehearse-report-us-broke") / "us-broke"
    assert json.loads((shard / "report.json").read_text())["verdict"] == "broke"
    assert not leftovers(run.state)
