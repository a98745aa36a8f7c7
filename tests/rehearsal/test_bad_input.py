"""Bad input: one clear line naming the problem, exit 2, nothing created and nothing left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rehearsal._run import leftovers, rehearse


@pytest.mark.parametrize(("args", "needle"), [
    (["--from", "1.x", "--to", "1.28"], "'1.x'"),
    (["--from", "1.28", "--to", "1.27"], "downgrade"),
    (["--from", "1.28", "--to", "1.28"], "same version"),
    (["--from", "1.27", "--to", "1.99"], "'1.99'"),
    (["run", "--from", "1.27", "--to", "1.28", "--snapshot", "/nonexistent/prod.yaml"], "/nonexistent/prod.yaml"),
    (["run", "--scenario", "no-such-scenario"], "no-such-scenario"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    out = rehearse(*args, "--report-dir", str(tmp_path / "r"), state=tmp_path / "state")
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not leftovers(tmp_path / "state")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("content", "needle"), [
    ("schema: rehearse/scenario/v1\nname: x\nchecks: [{id: a, type: teleport}]\n", "checks[0].type"),
    ("schema: rehearse/scenario/v1\nname: x\nchecks: [{id: a, type: wait, condition: Ready, object: {kind: X}}]\n",
     "checks[0].object"),
    ("schema: rehearse/scenario/v2\n", "schema"),
    ("schema: rehearse/scenario/v1\nnodes: {a: 1}\n", "nodes"),
    ("schema: rehearse/scenario/v1\nchecks: [\n", "not valid YAML"),
    ("schema: rehearse/scenario/v1\nmanifests: [missing-dir]\n", "missing-dir"),
])
def test_malformed_scenario_names_file_and_field(content: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    out = rehearse("run", "--from", "1.27", "--to", "1.28", "--scenario", str(path),
                   "--report-dir", str(tmp_path / "r"), state=tmp_path / "state")
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and needle in lines[0], out.stderr
    assert not leftovers(tmp_path / "state")
