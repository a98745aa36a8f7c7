"""The GitHub template passes actionlint, with shellcheck checking every ``run:`` script."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.ci import _tools
from tests.ci.conftest import WORKFLOW


def test_workflow_passes_actionlint() -> None:
    try:
        actionlint = _tools.actionlint()
        shellcheck = _tools.shellcheck_dir()
    except _tools.ToolError as e:
        pytest.fail(str(e))
    env = {**os.environ, "PATH": f"{shellcheck}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([str(actionlint), "-color=false", "-verbose", str(WORKFLOW)], capture_output=True, text=True,
                         timeout=300, check=False, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'Rule "shellcheck" was disabled' not in out.stderr, out.stderr
