"""The real `rehearse plan` command line, through a subprocess: exit codes, output, report files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.snapshot import dump
from harness.snapshot.model import ControlPlane, NodeInfo, Snapshot
from tests.plan._corpus import CORPUS, ROOT


def _rehearse(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness", "plan", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False, cwd=cwd)


def test_blockers_exit_1_and_write_the_report_files(tmp_path: Path) -> None:
    out = _rehearse("--from", "1.24", "--to", "1.32", "--manifests", str(CORPUS), "--report-dir",
                    str(tmp_path / "r"), "--json", str(tmp_path / "copy.json"))
    assert out.returncode == 1, out.stderr
    assert "BROKE 1.24.17 → 1.25.16" in out.stdout
    assert "Predicted to break (not observable here)" in out.stdout and "Warnings" in out.stdout
    assert "PodDisruptionBudget" in out.stdout  # the tables wrap their cells: the text itself is in the JSON
    assert "charts/webapp: Helm chart, 3 template files" in out.stderr
    for name in ("report.json", "junit.xml", "summary.md", "report.html"):
        assert (tmp_path / "r" / name).is_file(), name
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc == json.loads((tmp_path / "copy.json").read_text())
    assert doc["schema"] == "rehearse/report/v2" and doc["provider"] == "none" and doc["verdict"] == "broke"
    assert len([f for f in doc["findings"] if f["severity"] == "blocker"]) == 20
    assert len(doc["findings"]) == 59
    causes = [f["cause"] for f in doc["findings"]]
    assert any(c.startswith("policy/v1beta1 PodDisruptionBudget is no longer served from 1.25 on") for c in causes)
    assert {"severity", "kind", "object", "cause", "fix", "hop"} <= set(doc["findings"][0])
    assert "<failure" in (tmp_path / "r" / "junit.xml").read_text()


def test_no_blockers_exit_0(tmp_path: Path) -> None:
    out = _rehearse("--from", "1.27", "--to", "1.29", "--manifests", str(CORPUS / "current"),
                    str(CORPUS / "removed" / "1.32"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Warnings")  # flowcontrol v1beta3: deprecated in 1.29, still served
    assert "PASSED 1.27.16 → 1.28.15 → 1.29.15" in out.stdout
    assert not (tmp_path / "rehearse-report").exists()


def test_snapshot_file(tmp_path: Path) -> None:
    snap = Snapshot(server_version="v1.27.16", nodes=[NodeInfo(name="n1", kubelet_version="v1.27.16")],
                    control_plane=ControlPlane(visible=True, source="static-pods",
                                               apiserver_args=["--feature-gates=DevicePlugins=true"],
                                               feature_gates={"DevicePlugins": True}))
    path = tmp_path / "prod.yaml"
    path.write_text(dump(snap), encoding="utf-8")
    out = _rehearse("--from", "1.27", "--to", "1.28", "--snapshot", str(path), "--markdown", str(tmp_path / "s.md"),
                    "--junit", str(tmp_path / "j.xml"))
    assert out.returncode == 1, out.stderr
    assert "DevicePlugins" in out.stdout
    summary = (tmp_path / "s.md").read_text()
    assert "remove DevicePlugins from --feature-gates" in summary
    assert (tmp_path / "j.xml").is_file() and not (tmp_path / "rehearse-report").exists()


def test_user_knowledge_directory(tmp_path: Path) -> None:
    mine = tmp_path / "knowledge"
    mine.mkdir()
    (mine / "removed_apis.yaml").write_text(
        "entries:\n"
        "  - group_version: stable.example.com/v1\n    kind: CronTab\n    resource: crontabs\n"
        '    deprecated_in: "1.27"\n    removed_in: "1.29"\n    replacement: stable.example.com/v2\n'
        "    source: our platform team's CRD changelog\n", encoding="utf-8")
    (mine / "fixes.yaml").write_text("entries:\n  - api: stable.example.com/v1/CronTab\n"
                                     "    fix: Run the crontab-migrate job, then rewrite as stable.example.com/v2.\n")
    out = _rehearse("--from", "1.28", "--to", "1.29", "--manifests", str(CORPUS / "current"), "--knowledge", str(mine),
                    "--json", str(tmp_path / "r.json"))
    assert out.returncode == 1, out.stderr
    [finding] = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert finding["object"] == {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "namespace": "shop",
                                 "name": "report"}
    assert finding["fix"].startswith("Run the crontab-migrate job") and finding["hop"] == "1.28.15→1.29.15"


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "1.99", "--to", "1.28"], "unknown --from '1.99'"),
    (["--from", "1.28", "--to", "1.27"], "older than --from"),
    (["--from", "1.27", "--to", "1.27"], "same version"),
    (["--from", "1.27", "--to", "1.28", "--manifests", "/nonexistent/dir"],
     "manifest path /nonexistent/dir does not exist"),
    (["--from", "1.27", "--to", "1.28", "--snapshot", "/nonexistent.yaml"], "/nonexistent.yaml"),
    (["--from", "1.27", "--to", "1.28", "--knowledge", "/nonexistent"], "knowledge directory /nonexistent"),
])
def test_bad_input_exit_2_with_one_line(args: list[str], message: str) -> None:
    out = _rehearse(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.stderr
    assert out.stdout == ""


def test_malformed_yaml_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: [ConfigMap\n", encoding="utf-8")
    out = _rehearse("--from", "1.27", "--to", "1.28", "--manifests", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "bad.yaml: not valid YAML (line" in out.stderr
