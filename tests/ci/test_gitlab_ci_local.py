"""The GitLab template, end to end under gitlab-ci-local's shell executor (``--shell-isolation``: each job in its
own copy of the project, artifacts handed to later jobs as GitLab does), in a throwaway git project holding a
rehearse checkout, the template as ``.gitlab-ci.yml`` and two snapshots at the paths the template names
(``fleet/prod-eu.yaml`` passes 1.27 → 1.28, ``fleet/prod-us.yaml`` breaks).

Deviations from a GitLab runner, both on the command line: ``--force-shell-executor`` (the template's
``image: python:3.12`` would need Docker), and ``REHEARSE_CACHE_DIR`` points at this machine's binary cache instead of
``$CI_PROJECT_DIR/.cache/rehearse`` (gitlab-ci-local would copy the 0.5 GB of binaries in and out of every job).
``pip install .`` goes into a virtualenv first on PATH, standing in for the image's Python.
gitlab-ci-local needs rsync (``apt-get install rsync``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ci import _tools
from tests.ci.conftest import (
    FIXTURES,
    GITLAB_TEMPLATE,
    ROOT,
    junit_counts,
    leftovers,
    load_script,
    runner_env,
    validate_junit,
)


@dataclass
class Project:
    path: Path
    gcl: Path
    version: str
    env: dict[str, str]
    state: Path

    def gitlab_ci_local(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.gcl), "--no-color", "--home", str(self.path.parent / "gcl-home"), *args]
        return subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)


PIPEFAIL_LINE = "    - set -o pipefail\n"
# Copies of the template whose rehearse job lacks the line: removed, or turned into its opposite.
VARIANTS = {"no-pipefail-line.gitlab-ci.yml": "", "pipefail-off.gitlab-ci.yml": "    - set +o pipefail\n"}
BROKE_JOB = "rehearse: [prod-us,fleet/prod-us.yaml]"


def _without_pipefail_line(template: str, replacement: str) -> str:
    assert template.count(PIPEFAIL_LINE) == 1, "the template's pipefail line changed: update this test"
    return template.replace(PIPEFAIL_LINE, replacement)


def _git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(project), "-c", "user.name=rehearse", "-c", "user.email=rehearse@localhost",
                    *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    try:
        gcl, version = _tools.gitlab_ci_local()
    except _tools.ToolError as e:
        pytest.fail(str(e))
    if shutil.which("rsync") is None:
        pytest.fail("gitlab-ci-local's shell executor needs rsync: apt-get install rsync")
    base = tmp_path_factory.mktemp("gitlab")
    path = base / "fleet"
    script = load_script()
    script.copy_working_tree(ROOT, path)
    (path / "fleet").mkdir()
    shutil.copy(FIXTURES / "cluster-pass.yaml", path / "fleet" / "prod-eu.yaml")
    shutil.copy(FIXTURES / "cluster-broke.yaml", path / "fleet" / "prod-us.yaml")
    shutil.copy(GITLAB_TEMPLATE, path / ".gitlab-ci.yml")
    for name, replacement in VARIANTS.items():
        (path / name).write_text(_without_pipefail_line(GITLAB_TEMPLATE.read_text(), replacement))
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "fleet")
    _git(path, "remote", "add", "origin", "git@gitlab.example.com:platform/fleet.git")
    state = base / "state"
    env = runner_env(state)
    env["PATH"] = f"{script.make_venv(base / 'python')}:{env['PATH']}"
    yield Project(path, gcl, version, env, state)


def _jobs(listing: str) -> list[str]:
    return [line.split("  ")[0].strip() for line in listing.splitlines() if line.startswith("rehearse")]


def test_rules_run_the_jobs_on_schedules_and_manual_runs_only(project: Project) -> None:
    push = project.gitlab_ci_local("--list")
    assert push.returncode == 0, push.stdout + push.stderr
    assert _jobs(push.stdout) == []
    for source in ("schedule", "web"):
        listed = project.gitlab_ci_local("--list", "--variable", f"CI_PIPELINE_SOURCE={source}",
                                         "--ignore-predefined-vars", "CI_PIPELINE_SOURCE")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert _jobs(listed.stdout) == ["rehearse: [prod-eu,fleet/prod-eu.yaml]",
                                        "rehearse: [prod-us,fleet/prod-us.yaml]", "rehearse-fleet"], source


def _nightly(project: Project, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """A scheduled pipeline under the shell executor, with the machine's binary cache."""
    cache = _tools.tools_dir().parent
    return project.gitlab_ci_local(
        "--variable", "CI_PIPELINE_SOURCE=schedule", "--ignore-predefined-vars", "CI_PIPELINE_SOURCE",
        "--variable", f"REHEARSE_CACHE_DIR={cache}", "--force-shell-executor", "--shell-isolation",
        "--concurrency", "1", *args, timeout=timeout,
    )


@pytest.mark.slow
def test_the_nightly_pipeline_runs_end_to_end(project: Project) -> None:
    """Both shards and the merge; the shard whose rehearsal exits 1 (prod-us) fails its job."""
    run = _nightly(project)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-5000:]  # a job failed: prod-us broke
    assert re.search(r"PASS\s+rehearse: \[prod-eu,fleet/prod-eu\.yaml\]", output), output[-5000:]
    assert re.search(r"FAIL\s+rehearse: \[prod-us,fleet/prod-us\.yaml\]", output), output[-5000:]
    assert re.search(r"FAIL\s+rehearse-fleet", output), output[-5000:]
    assert re.search(r"rehearse-fleet\s+imported artifacts", output), output[-5000:]

    artifacts = project.path / ".gitlab-ci-local" / "artifacts"
    for cluster, verdict, failing in (("prod-eu", "pass", False), ("prod-us", "broke", True)):
        (shard,) = list(artifacts.glob(f"rehearse*/reports/{cluster}"))
        junit = shard / "junit.xml"  # artifacts:reports:junit
        validate_junit(junit)
        failures = sum(c["failures"] for c in junit_counts(junit).values())
        assert (failures >= 1) if failing else (failures == 0), cluster
        report = json.loads((shard / "report.json").read_text())
        assert report["name"] == cluster and report["verdict"] == verdict
        assert (shard / "summary.md").read_text().startswith("## rehearse: ")
        assert (shard / "rehearse.log").is_file()

    fleet = artifacts / "rehearse-fleet" / "fleet-report"
    summary = (fleet / "summary.md").read_text()
    assert "| prod-eu | 1.27." in summary and "| PASSED |" in summary
    assert "| prod-us | 1.27." in summary and "| **BROKE** |" in summary
    assert "## rehearse fleet: **BROKE** 2 clusters" in output  # the merge job prints the summary in its log
    doc = json.loads((fleet / "report.json").read_text())
    assert doc["counts"] == {"pass": 1, "broke": 1, "error": 0}
    validate_junit(fleet / "junit.xml")
    assert not leftovers(project.state)


def _broke_shard(project: Project, variant: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    """The prod-us job alone (its rehearsal exits 1), from a copy of the template; its run and its report."""
    state = f".gcl-{variant.split('.', maxsplit=1)[0]}"
    run = _nightly(project, "--file", variant, "--state-dir", state, BROKE_JOB, timeout=900)
    (shard,) = list((project.path / state / "artifacts").glob("rehearse*/reports/prod-us"))
    report: dict[str, object] = json.loads((shard / "report.json").read_text())
    return run, report


@pytest.mark.slow
def test_without_the_templates_pipefail_line_the_broken_job_still_fails(project: Project) -> None:
    """gitlab-ci-local starts every job script with ``set -eo pipefail``, as GitLab Runner's bash shell does (its
    script begins ``if set -o | grep pipefail > /dev/null; then set -o pipefail; fi; set -o errexit``): the
    template's own ``set -o pipefail`` line states the need, and the job fails without it too."""
    run, report = _broke_shard(project, "no-pipefail-line.gitlab-ci.yml")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-5000:]
    assert re.search(r"FAIL\s+rehearse: \[prod-us,fleet/prod-us\.yaml\]", output), output[-5000:]
    assert report["verdict"] == "broke"


@pytest.mark.slow
def test_with_pipefail_off_the_broken_job_goes_wrongly_green(project: Project) -> None:
    """The regression this test guards against, made visible: with pipefail off, tee's 0 is the job's status and
    the job passes while its report says the upgrade broke. (So the failing job above fails because of pipefail.)"""
    run, report = _broke_shard(project, "pipefail-off.gitlab-ci.yml")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    assert re.search(r"PASS\s+rehearse: \[prod-us,fleet/prod-us\.yaml\]", output), output[-5000:]
    assert report["verdict"] == "broke"
