"""Bad input: one clear line naming the problem, exit 2, nothing created and nothing left running."""

from __future__ import annotations

import json
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


def _snapshot_file(tmp_path: Path, **changes: object) -> Path:
    """The default scenario's snapshot, changed as asked, written as a snapshot file."""
    import dataclasses

    from harness.scenario import load_scenario
    from harness.snapshot.fileformat import dump

    snap = dataclasses.replace(load_scenario("default").snapshot, **changes)  # type: ignore[arg-type]
    path = tmp_path / "prod.yaml"
    path.write_text(dump(snap))
    return path


def _release(manifest: str) -> object:
    from harness.snapshot.model import HelmRelease

    return HelmRelease(name="gw", namespace="edge", chart="gateway", chart_version="1.0.0", app_version="1",
                       status="deployed", revision=1, storage="secret", manifest=manifest)


@pytest.mark.parametrize(("changes", "from_version", "needle"), [
    ({"server_version": "v1.26.5"}, "1.27", "--from 1.27 does not match"),
    ({"server_version": "v1.27.3-eks-1a2b3c", "helm_releases": [_release("- just\n- a list\n")]}, "1.27",
     "Helm release edge/gw: manifest document 1 is list"),
    ({"server_version": "", "helm_releases": [_release("kind: Service\napiVersion: v1\nmetadata: {}\n")]}, "1.27",
     "Service object has no metadata.name"),
    ({"server_version": "", "helm_releases": [_release("kind: Service\n  bad: [\n")]}, "1.27", "not valid YAML"),
])
def test_snapshot_inputs_are_checked_before_any_cluster(changes: dict[str, object], from_version: str, needle: str,
                                                        tmp_path: Path) -> None:
    """Every input is checked before anything starts: a --from that is not the snapshot's version, a Helm
    manifest inside the snapshot that is not Kubernetes objects — one line, exit 2, no cluster, no report."""
    snap = _snapshot_file(tmp_path, **changes)
    out = rehearse("run", "--from", from_version, "--to", "1.28", "--snapshot", str(snap),
                   "--report-dir", str(tmp_path / "r"), state=tmp_path / "state")
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and str(snap) in lines[0], out.stderr
    assert not (tmp_path / "state").exists() or not leftovers(tmp_path / "state")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--scenario", "[/x]"], "scenario file '[/x]' does not exist"),  # Rich markup would eat or choke on it
    (["run", "--nodes", "many"], "argument --nodes: invalid int value: 'many'"),
    (["run", "--provider", "vm"], "argument --provider: invalid choice: 'vm'"),
])
def test_errors_are_plain_text_in_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    out = rehearse(*args, state=tmp_path / "state")
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr and "usage:" not in out.stderr


@pytest.mark.slow
def test_kept_cluster_is_named_and_its_name_cannot_be_taken_twice(tmp_path: Path) -> None:
    """``--keep --cluster-name`` prints the kept cluster's name, kubeconfig and delete command; a second rehearsal
    asking for the same name is an input error naming that command, before anything is started."""
    state = tmp_path / "state"
    out = rehearse("run", "--from", "1.27", "--to", "1.28", "--provider", "local", "--keep", "--name", "prod-eu",
                   "--cluster-name", "portcheck", "--report-dir", str(tmp_path / "r1"), state=state)
    try:
        assert out.returncode == 0, out.stderr
        kept = [ln for ln in out.stderr.splitlines() if ln.startswith("kept cluster portcheck:")]
        assert kept and "kubeconfig " in kept[0] and "`rehearse clusters delete portcheck`" in kept[0], out.stderr
        assert Path(kept[0].split("kubeconfig ", 1)[1].split(";", 1)[0]).is_file()
        assert json.loads((tmp_path / "r1" / "report.json").read_text())["name"] == "prod-eu"  # the label
        again = rehearse("run", "--from", "1.27", "--to", "1.28", "--provider", "local",
                         "--cluster-name", "portcheck", "--report-dir", str(tmp_path / "r2"), state=state)
        assert again.returncode == 2, again.stderr
        lines = [ln for ln in again.stderr.splitlines() if ln.strip() and not ln.startswith("rehearsing")]
        assert len(lines) == 1 and "'portcheck' already exists (rehearse clusters delete portcheck)" in lines[0]
        assert not (tmp_path / "r2").exists()
    finally:
        rehearse("clusters", "delete", "portcheck", state=state)
    assert not leftovers(state)
