"""How ``scripts/ci_github_steps.py`` starts a ``run:`` step: the shell GitHub's Linux runner would pick (the step's
``shell``, else the job's ``defaults.run.shell``, else the workflow's, else ``bash -e {0}``), split as the runner
splits it, and the working directory from ``defaults.run``. Every case runs a real script under the real shell
and reads back what it did (no pipefail: the step goes on after ``false | true``; ``-e``: it stops at ``false``).

Also the runner's ``actions/setup-python`` emulation when the runner itself runs from a virtualenv (issue #19): the
step's Python still sees the outer virtualenv's packages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.ci.conftest import SCRIPT, load_script, runner_env

BASH = shutil.which("bash") or "bash"

# Writes which shell runs it, then shows whether pipefail (the pipe stops it) and -e (false stops it) are on.
PROBE = """\
if [ -n "${BASH_VERSION:-}" ]; then echo "shell=bash" >> "$GITHUB_OUTPUT"; else echo "shell=sh" >> "$GITHUB_OUTPUT"; fi
false | true
echo "after-pipe=yes" >> "$GITHUB_OUTPUT"
false
echo "after-false=yes" >> "$GITHUB_OUTPUT"
"""
PIPEFAIL = {"shell": "bash"}  # stopped at the pipe
NO_PIPEFAIL_BASH = {"shell": "bash", "after-pipe": "yes"}  # stopped at false
NO_PIPEFAIL_SH = {"shell": "sh", "after-pipe": "yes"}
NEITHER = {"shell": "bash", "after-pipe": "yes", "after-false": "yes"}


@pytest.fixture(scope="module")
def steps() -> ModuleType:
    return load_script()


def _step(step_id: str, script: str = PROBE, **keys: str) -> str:
    """One step of a workflow's text (``working_directory=`` for ``working-directory:``), going on when it fails."""
    lines = [f"      - id: {step_id}", "        continue-on-error: true"]
    lines += [f"        {key.replace('_', '-')}: {value}" for key, value in keys.items()]
    lines += ["        run: |", *("          " + line for line in script.splitlines())]
    return "\n".join(lines)


def _run(steps: ModuleType, tmp_path: Path, text: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Run a workflow here; per job, per step id: its record."""
    workflow = tmp_path / "workflow.yml"
    workflow.write_text(text, encoding="utf-8")
    runner = steps.Runner(workflow, tmp_path / "out", repo=tmp_path, event="schedule", inputs={}, secrets={},
                          variables={}, fleet=None, only=None, echo=lambda _line: None)
    runner.run()
    return {job.id: {s.id: vars(s) for s in job.steps} for job in runner.jobs}


def _seen(record: dict[str, Any]) -> tuple[str, int | None, dict[str, str]]:
    return record["outcome"], record["exit_code"], record["outputs"]


def test_default_step_and_job_shells(steps: ModuleType, tmp_path: Path) -> None:
    workflow = "\n".join([
        "on: push", "jobs:", "  plain:", "    runs-on: ubuntu-latest", "    steps:",
        _step("default"),
        _step("bash", shell="bash"),
        _step("sh", shell="sh"),
        _step("custom", shell="bash {0}"),
        "  job-sh:", "    runs-on: ubuntu-latest", "    defaults:", "      run:", "        shell: sh", "    steps:",
        _step("from-job"),
        _step("step-wins", shell="bash"),
    ]) + "\n"
    jobs = _run(steps, tmp_path, workflow)
    plain = jobs["plain"]
    # GitHub's default: bash with sh's arguments, -e and no pipefail.
    assert _seen(plain["default"]) == ("failure", 1, NO_PIPEFAIL_BASH)
    assert plain["default"]["details"]["shell"] == f"{BASH} -e {{0}}"
    assert plain["default"]["details"]["shell_source"] == "GitHub's default (no shell set)"
    assert _seen(plain["bash"]) == ("failure", 1, PIPEFAIL)
    assert plain["bash"]["details"]["shell"] == f"{BASH} --noprofile --norc -e -o pipefail {{0}}"
    assert _seen(plain["sh"]) == ("failure", 1, NO_PIPEFAIL_SH)
    assert plain["sh"]["details"]["shell"].endswith("/sh -e {0}")
    assert _seen(plain["custom"]) == ("success", 0, NEITHER)  # used as given: neither -e nor pipefail
    assert all(s["conclusion"] == "success" for s in plain.values())  # continue-on-error
    job_sh = jobs["job-sh"]
    assert _seen(job_sh["from-job"]) == ("failure", 1, NO_PIPEFAIL_SH)
    assert job_sh["from-job"]["details"]["shell_source"] == "the job's defaults.run"
    assert _seen(job_sh["step-wins"]) == ("failure", 1, PIPEFAIL)


def test_workflow_defaults_and_job_overrides_with_working_directories(steps: ModuleType, tmp_path: Path) -> None:
    where = 'echo "dir=$(basename "$PWD")" >> "$GITHUB_OUTPUT"'
    workflow = "\n".join([
        "on: push",
        "defaults:", "  run:", "    shell: bash", "    working-directory: wf-dir",
        "jobs:",
        "  inherits:", "    runs-on: ubuntu-latest", "    steps:",
        _step("mkdir", working_directory=".", script="mkdir wf-dir"),
        _step("probe"),
        _step("where", script=where),
        "  overrides:", "    runs-on: ubuntu-latest",
        "    defaults:", "      run:", "        shell: sh", "        working-directory: job-dir", "    steps:",
        _step("mkdir", working_directory=".", script="mkdir job-dir step-dir"),
        _step("probe"),
        _step("where", script=where),
        _step("step-dir", working_directory="step-dir", script=where),
        _step("missing", working_directory="nowhere", script=where),
    ]) + "\n"
    jobs = _run(steps, tmp_path, workflow)
    inherits, overrides = jobs["inherits"], jobs["overrides"]
    assert _seen(inherits["probe"]) == ("failure", 1, PIPEFAIL)
    assert inherits["probe"]["details"]["shell_source"] == "the workflow's defaults.run"
    assert inherits["where"]["outputs"] == {"dir": "wf-dir"}
    assert _seen(overrides["probe"]) == ("failure", 1, NO_PIPEFAIL_SH)  # the job's defaults win, key by key
    assert overrides["where"]["outputs"] == {"dir": "job-dir"}
    assert overrides["step-dir"]["outputs"] == {"dir": "step-dir"}
    missing = overrides["missing"]
    assert (missing["outcome"], missing["exit_code"]) == ("failure", None)
    assert missing["reason"].startswith("no directory ") and missing["reason"].endswith("/nowhere")


def test_custom_shells_are_split_as_the_runner_splits_them(steps: ModuleType, tmp_path: Path) -> None:
    python = 'import os, sys\nopen(os.environ["GITHUB_OUTPUT"], "a").write("shell=python\\n")\nsys.exit(3)'
    workflow = "\n".join([
        "on: push", "jobs:", "  custom:", "    runs-on: ubuntu-latest", "    steps:",
        _step("python", shell="python3 {0}", script=python),
        _step("double", shell="bash -c \"exit 7\" {0}", script="true"),  # double quotes group: exit 7
        _step("single", shell="bash -c 'exit 7' {0}", script="true"),  # single quotes do not: -c "'exit"
        _step("braces", shell="bash -c \"echo n={{}}>>$GITHUB_OUTPUT\" {0}", script="true"),
    ]) + "\n"
    custom = _run(steps, tmp_path, workflow)["custom"]
    assert _seen(custom["python"]) == ("failure", 3, {"shell": "python"})
    assert custom["python"]["details"]["shell"] == f"{shutil.which('python3')} {{0}}"
    assert custom["double"]["exit_code"] == 7
    assert custom["single"]["exit_code"] == 2  # bash: unexpected EOF while looking for matching `''
    assert _seen(custom["braces"]) == ("success", 0, {"n": "{}"})


def test_split_arguments(steps: ModuleType) -> None:
    split = steps.split_arguments
    assert split("--noprofile --norc -e -o pipefail {0}") == ["--noprofile", "--norc", "-e", "-o", "pipefail", "{0}"]
    assert split('-c "exit 7"  {0}') == ["-c", "exit 7", "{0}"]
    assert split("-c 'exit 7'") == ["-c", "'exit", "7'"]
    assert split(r'a\"b "c ""d"" e" f\\g') == ['a"b', 'c "d" e', r"f\\g"]
    assert split("\t") == []


@pytest.mark.parametrize(("shell", "message"), [
    ("pwsh", "shell 'pwsh' (set by the step's shell) is not emulated"),
    ("python", "shell 'python' (set by the step's shell) is not emulated"),
    ("perl", "GitHub refuses it: a shell must be a built-in"),
    ("bash -c {1} {0}", "'{1}' in the shell's arguments"),
])
def test_shells_it_cannot_run_are_bad_input(steps: ModuleType, tmp_path: Path, shell: str, message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    workflow = tmp_path / "workflow.yml"
    workflow.write_text("on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
                        f"      - shell: {shell}\n        run: true\n", encoding="utf-8")
    assert steps.main([str(workflow), "--out", str(tmp_path / "out"), "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("ci_github_steps: "), err


def test_a_missing_shell_fails_the_step(steps: ModuleType, tmp_path: Path) -> None:
    workflow = "\n".join(["on: push", "jobs:", "  j:", "    runs-on: ubuntu-latest", "    steps:",
                          _step("gone", shell="no-such-shell-here {0}", script="true")]) + "\n"
    gone = _run(steps, tmp_path, workflow)["j"]["gone"]
    assert (gone["outcome"], gone["reason"]) == ("failure", "no-such-shell-here: not found on PATH")


SETUP_PYTHON_WORKFLOW = """\
on: push
jobs:
  python:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - id: imports
        shell: bash
        run: |
          python -c 'import sys, yaml, outer_only, outer_editable; print("prefix=" + sys.prefix)' >> "$GITHUB_OUTPUT"
          pip --version | sed 's/^/pip=/' >> "$GITHUB_OUTPUT"
"""


def test_setup_python_from_inside_a_virtualenv_sees_its_packages(tmp_path: Path) -> None:
    """The runner started by a virtualenv's Python (``python -m venv --system-site-packages``, as a project
    ``.venv`` would be): the step's Python is a fresh virtualenv, yet imports ``yaml`` (the base Python's), a module
    installed only in the outer virtualenv, and one its ``.pth`` file adds (an editable install's shape)."""
    outer = tmp_path / "outer"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(outer)], check=True, timeout=300)
    python = outer / "bin" / "python"
    where = "import site, sys; print(site.getsitepackages([sys.prefix])[0])"
    found = subprocess.run([str(python), "-c", where], capture_output=True, text=True, check=True)
    site_dir = Path(found.stdout.strip())
    (site_dir / "outer_only.py").write_text("", encoding="utf-8")
    editable = tmp_path / "editable-src"
    editable.mkdir()
    (editable / "outer_editable.py").write_text("", encoding="utf-8")
    (site_dir / "outer-editable.pth").write_text(f"{editable}\n", encoding="utf-8")
    workflow = tmp_path / "workflow.yml"
    workflow.write_text(SETUP_PYTHON_WORKFLOW, encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run([str(python), str(SCRIPT), str(workflow), "--out", str(out), "--repo", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False, env=runner_env(tmp_path / "st"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads((out / "run.json").read_text())
    (step,) = [s for s in record["jobs"][0]["steps"] if s["id"] == "imports"]
    prefix = Path(step["outputs"]["prefix"])
    assert prefix.name == "python" and prefix.parent.name == "temp"  # the emulated setup-python's virtualenv
    assert step["outputs"]["pip"].startswith("pip ") and str(outer) in step["outputs"]["pip"]  # the outer's pip
