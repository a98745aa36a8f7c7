"""``rehearse report merge`` on three rehearsals of a fleet: one passed, one broke (both real shards from the GitHub
template's run) and one errored (the template's rehearse step for a cluster whose snapshot file is gone: a shard
directory holding only the step's log). Fleet table, exit code and JUnit counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci.conftest import ROOT, GithubRun, junit_counts, run_github_steps, validate_junit

pytestmark = pytest.mark.slow


def merge(*inputs: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "report", "merge", *map(str, inputs), "-o", str(out)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
                          env={**os.environ, "CI": "true"})


@pytest.fixture(scope="module")
def errored_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("github-errored") / "run"
    run = run_github_steps(out, "--job", "rehearse", "--fleet", "eu-lost=fleet/eu-lost.yaml")
    (job,) = run.jobs("rehearse")
    assert job["result"] == "failure", run.output[-3000:]
    step = next(s for s in job["steps"] if s["name"] == "Rehearse the upgrade")
    assert step["outputs"] == {"exit-code": "2"}  # bad input: no such snapshot file
    shard = run.artifact("rehearse-report-eu-lost") / "eu-lost"
    assert sorted(p.name for p in shard.iterdir()) == ["rehearse.log"]
    return shard


def test_merge_of_a_passed_a_broken_and_an_errored_rehearsal(github_run: GithubRun, errored_shard: Path,
                                                              tmp_path: Path) -> None:
    passed = github_run.artifact("rehearse-report-eu-pass") / "eu-pass"
    broke = github_run.artifact("rehearse-report-us-broke") / "us-broke"
    out = merge(passed, broke, errored_shard, out=tmp_path / "fleet")
    assert out.returncode == 1, out.stdout + out.stderr  # any broke → 1, before any errored → 3
    fleet = tmp_path / "fleet"

    rows = [line for line in (fleet / "summary.md").read_text().splitlines() if line.startswith("| eu-")
            or line.startswith("| us-")]
    assert len(rows) >= 3
    table = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]] for row in rows[:3]}
    assert list(table) == ["eu-pass", "us-broke", "eu-lost"]
    assert table["eu-pass"][1:3] == ["PASSED", "0"]
    assert table["us-broke"][1:3] == ["**BROKE**", "1"]  # kube-apiserver 1.28 refused DevicePlugins
    assert table["eu-lost"][1] == "**ERROR**"
    assert "no report.json" in table["eu-lost"][4] and "no such snapshot file" in table["eu-lost"][4]
    assert "BROKE fleet of 3: 1 passed · 1 broke · 1 error" in out.stdout

    doc = json.loads((fleet / "report.json").read_text())
    assert doc["verdict"] == "broke" and doc["counts"] == {"pass": 1, "broke": 1, "error": 1}

    junit = fleet / "junit.xml"
    validate_junit(junit)
    counts = junit_counts(junit)
    assert counts["eu-lost / rehearsal"] == {"tests": 1, "failures": 0, "errors": 1, "skipped": 0}
    for cluster, shard in (("eu-pass", passed), ("us-broke", broke)):
        own = junit_counts(shard / "junit.xml")
        assert {k.split(" / ", 1)[1]: v for k, v in counts.items() if k.startswith(f"{cluster} / ")} == own
    total = {key: sum(c[key] for c in counts.values()) for key in ("tests", "failures", "errors")}
    broke_own = junit_counts(broke / "junit.xml")
    assert total["failures"] == sum(c["failures"] for c in broke_own.values()) >= 1
    assert total["errors"] == sum(c["errors"] for c in broke_own.values()) + 1

    from junitparser import JUnitXml

    root = JUnitXml.fromfile(str(junit))
    assert (root.tests, root.failures, root.errors) == (total["tests"], total["failures"], total["errors"])


def test_merge_exit_codes_follow_the_worst_cluster(github_run: GithubRun, errored_shard: Path,
                                                    tmp_path: Path) -> None:
    passed = github_run.artifact("rehearse-report-eu-pass") / "eu-pass"
    assert merge(passed, out=tmp_path / "a").returncode == 0
    assert merge(passed, errored_shard, out=tmp_path / "b").returncode == 3
    assert merge(errored_shard, github_run.artifact("rehearse-report-us-broke") / "us-broke",
                 out=tmp_path / "c").returncode == 1
