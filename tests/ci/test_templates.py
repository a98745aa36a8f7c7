"""The templates' shape, and the expression and job semantics ``scripts/ci_github_steps.py`` emulates (quick)."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.ci.conftest import GITLAB_TEMPLATE, WORKFLOW, load_script


@pytest.fixture(scope="module")
def steps() -> ModuleType:
    return load_script()


def _runner(steps: ModuleType, tmp_path: Path, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"repo": tmp_path, "event": "schedule", "inputs": {}, "secrets": {}, "variables": {},
                            "fleet": None, "only": None, "echo": lambda _line: None}
    args.update(kwargs)
    return steps.Runner(WORKFLOW, tmp_path / "out", **args)


def test_expressions(steps: ModuleType) -> None:
    ev = steps.evaluate
    ctx = {"inputs": {}, "env": {"A": "x"}, "matrix": {"cluster": "prod-eu"},
           "steps": {"rehearse": {"outputs": {"exit-code": "1"}, "outcome": "success"}},
           "needs": {"snapshot": {"result": "success", "outputs": {"cluster": ""}}}}
    assert ev("${{ inputs.from || '1.27' }}", ctx) == "1.27"
    assert ev("inputs.from || '1.27'", {**ctx, "inputs": {"from": "1.29"}}) == "1.29"
    assert ev("steps.rehearse.outputs.exit-code", ctx) == "1"
    assert ev("steps.rehearse.outputs.exit-code == 1", ctx) is True  # number coercion
    assert ev("matrix.cluster == 'PROD-EU'", ctx) is True  # strings compare ignoring case
    assert ev("needs.snapshot.outputs.cluster == matrix.cluster", ctx) is False
    assert ev("env.MISSING", ctx) is None
    assert ev("format('{0}-{1}', env.A, matrix.cluster)", ctx) == "x-prod-eu"
    assert ev("contains(fromJSON('[\"a\", \"b\"]'), 'B')", ctx) is True
    assert steps.interpolate("key-${{ matrix.cluster }}-${{ env.A }}", ctx) == "key-prod-eu-x"
    with pytest.raises(steps.Unsupported, match="hashFiles"):
        ev("hashFiles('**/x')", ctx)
    with pytest.raises(steps.Unsupported, match="context 'jobs'"):
        ev("jobs.x", ctx)


def test_conditions_follow_the_job_status(steps: ModuleType) -> None:
    cond = steps.condition
    ctx = {"env": {"KUBECONFIG_DATA": ""}, "steps": {"b": {"outputs": {"cache-hit": "false"}}}}
    assert cond(None, ctx, "success") and not cond(None, ctx, "failure")  # no if: means success()
    assert cond("always()", ctx, "failure")
    assert cond("${{ !cancelled() }}", ctx, "failure") and not cond("${{ !cancelled() }}", ctx, "cancelled")
    assert not cond("env.KUBECONFIG_DATA != ''", ctx, "success")
    assert cond("always() && steps.b.outputs.cache-hit != 'true'", ctx, "failure")
    assert not cond("steps.b.outputs.cache-hit != 'true'", ctx, "failure")  # implied success() &&


def test_fleet_replaces_the_matrix_and_inputs_reach_the_env(steps: ModuleType, tmp_path: Path) -> None:
    workflow = steps.load_workflow(WORKFLOW)
    assert steps.job_order(workflow["jobs"]) == ["snapshot", "rehearse", "merge"]
    job = workflow["jobs"]["rehearse"]
    assert steps.matrix_instances(job) == [{"cluster": "prod-eu", "snapshot": "fleet/prod-eu.yaml"},
                                           {"cluster": "prod-us", "snapshot": "fleet/prod-us.yaml"}]
    fleet = [{"cluster": "a", "snapshot": "a.yaml"}]
    assert steps.matrix_instances(job, fleet) == fleet
    assert steps.matrix_instances({"strategy": {"matrix": {"v": [1, 2], "include": [{"v": 2, "x": "y"}]}}}) == [
        {"v": 1}, {"v": 2, "x": "y"}]
    nightly = _runner(steps, tmp_path).workflow_env()
    assert (nightly["REHEARSE_FROM"], nightly["REHEARSE_TO"]) == ("1.27", "1.28")
    manual = _runner(steps, tmp_path, event="workflow_dispatch", inputs={"to": "1.29"}).workflow_env()
    assert (manual["REHEARSE_FROM"], manual["REHEARSE_TO"]) == ("1.27", "1.29")
    with pytest.raises(steps.Unsupported, match="not an input"):
        _runner(steps, tmp_path, event="workflow_dispatch", inputs={"nope": "1"})


def test_github_template_shape() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads `on` as true, as GitHub's parser does not
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"from", "to"}
    assert workflow["defaults"] == {"run": {"shell": "bash"}}  # pipefail: `rehearse run | tee` keeps its code
    jobs = workflow["jobs"]
    assert not [s for j in jobs.values() for s in j["steps"] if "shell" in s]  # no step opts out
    assert jobs["rehearse"]["strategy"]["fail-fast"] is False
    assert jobs["merge"]["needs"] == "rehearse" and jobs["merge"]["if"] == "always()"
    assert "secrets.PROD_EU_KUBECONFIG" in jobs["snapshot"]["env"]["KUBECONFIG_DATA"]
    uses = [s["uses"] for j in jobs.values() for s in j["steps"] if "uses" in s]
    assert all(re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", u) for u in uses), uses
    text = WORKFLOW.read_text()
    assert "chmod 600" in text and "$GITHUB_STEP_SUMMARY" in text and "--name \"$CLUSTER\"" in text


def test_gitlab_template_shape() -> None:
    ci = yaml.safe_load(GITLAB_TEMPLATE.read_text())
    assert ci["variables"]["REHEARSE_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/rehearse"
    rehearse = ci["rehearse"]
    assert [m["CLUSTER"] for m in rehearse["parallel"]["matrix"]] == ["prod-eu", "prod-us"]
    assert rehearse["cache"]["paths"] == [".cache/rehearse/"] and rehearse["cache"]["when"] == "always"
    script = rehearse["script"]
    piped = next(i for i, line in enumerate(script) if "| tee" in line)
    assert "set -o pipefail" in script[:piped]
    assert rehearse["artifacts"]["when"] == "always"
    assert rehearse["artifacts"]["reports"]["junit"] == "reports/*/junit.xml"
    assert rehearse["artifacts"]["paths"] == ["reports/"]
    fleet = ci["rehearse-fleet"]
    assert fleet["needs"] == [{"job": "rehearse", "artifacts": True}]
    assert {r["when"] for r in fleet["rules"]} == {"always"}
    assert ci["stages"].index(fleet["stage"]) > ci["stages"].index(rehearse["stage"])


def test_secrets_are_masked(steps: ModuleType, tmp_path: Path) -> None:
    seen: list[str] = []
    runner = _runner(steps, tmp_path, secrets={"KC": "user:\n  token: s3cr3t-value\n"}, echo=seen.append)
    runner.echo("token: s3cr3t-value in a log line")
    assert seen == ["*** in a log line"]
    assert runner.mask("s3cr3t-value") == "s3cr3t-value"  # only whole lines of a multi-line secret are masked
