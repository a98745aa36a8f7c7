"""The GitHub template's steps, run once per session by ``scripts/ci_github_steps.py`` for a fleet of two clusters
(one whose 1.27 → 1.28 upgrade passes, one whose control plane enables a feature gate 1.28 removed), and helpers
shared by the CI template tests."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "ci" / "github" / "rehearse-nightly.yml"
GITLAB_TEMPLATE = ROOT / "ci" / "gitlab" / "rehearse-nightly.gitlab-ci.yml"
SCRIPT = ROOT / "scripts" / "ci_github_steps.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
XSD = ROOT / "tests" / "data" / "junit-10.xsd"
PASS_SNAPSHOT = "tests/ci/fixtures/cluster-pass.yaml"
BROKE_SNAPSHOT = "tests/ci/fixtures/cluster-broke.yaml"
FLEET = {"eu-pass": PASS_SNAPSHOT, "us-broke": BROKE_SNAPSHOT}


@functools.cache
def load_script() -> ModuleType:
    """``scripts/ci_github_steps.py`` as a module."""
    spec = importlib.util.spec_from_file_location("ci_github_steps", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def runner_env(state: Path) -> dict[str, str]:
    """The environment the runners get: this one, with a private cluster state directory and without PYTHONPATH
    (rehearse must come from the workflow's own install step, not from this checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(REHEARSE_STATE_DIR=str(state), PIP_DISABLE_PIP_VERSION_CHECK="1", CI="true")
    return env


def leftovers(state: Path) -> list[Path]:
    clusters = state / "local" / "clusters"
    return sorted(clusters.iterdir()) if clusters.is_dir() else []


@dataclass
class GithubRun:
    out: Path
    returncode: int
    output: str
    record: dict[str, Any]
    state: Path

    def jobs(self, job_id: str) -> list[dict[str, Any]]:
        return [j for j in self.record["jobs"] if j["id"] == job_id]

    def job(self, name: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = [j for j in self.record["jobs"] if j["name"] == name]
        assert len(found) == 1, name
        return found[0]

    def artifact(self, name: str) -> Path:
        return self.out / "artifacts" / name


def run_github_steps(out: Path, *args: str, timeout: float = 1200, workflow: Path = WORKFLOW) -> GithubRun:
    """``scripts/ci_github_steps.py`` on ``workflow`` (actions/checkout copies this checkout's working tree)."""
    state = out.parent / f"{out.name}-state"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(workflow), "--out", str(out), "--repo", str(ROOT), *args],
                          capture_output=True, text=True, timeout=timeout, check=False, env=runner_env(state),
                          cwd=ROOT)
    output = proc.stdout + proc.stderr
    record_file = out / "run.json"
    assert record_file.exists(), output[-5000:]
    return GithubRun(out, proc.returncode, output, json.loads(record_file.read_text()), state)


@pytest.fixture(scope="session")
def github_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GithubRun]:
    """The nightly workflow (schedule event, nothing set but the fleet's snapshot paths), run here."""
    out = tmp_path_factory.mktemp("github") / "run"
    fleet = [f"--fleet={name}={snapshot}" for name, snapshot in FLEET.items()]
    yield run_github_steps(out, *fleet)


def junit_counts(path: Path) -> dict[str, dict[str, int]]:
    """Per suite name: tests, failures, errors, skipped, read back with junitparser."""
    from junitparser import JUnitXml

    xml = JUnitXml.fromfile(str(path))
    return {suite.name: {"tests": suite.tests, "failures": suite.failures, "errors": suite.errors,
                         "skipped": suite.skipped} for suite in xml}


def validate_junit(path: Path) -> None:
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(str(path))
