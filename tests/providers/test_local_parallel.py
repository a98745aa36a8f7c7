"""Two local rehearsals on one runner at the same time (a nightly fleet): each with its own state directory, and
both in the same one (what a runner's jobs share); both pass, and neither leaves anything behind. kwokctl, left
to itself, gives every cluster the same ports in the same order, so two creates started together collide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from harness.binaries import BinarySet

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("shared", [False, True], ids=["own-state-dirs", "one-state-dir"])
def test_two_local_rehearsals_at_once_both_pass(tmp_path: Path, shared: bool, bin127: BinarySet,
                                                bin128: BinarySet) -> None:
    runs = []
    for i in (1, 2):
        state = tmp_path / ("state" if shared else f"state-{i}")
        env = dict(os.environ, REHEARSE_STATE_DIR=str(state), CI="true")
        proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--from", "1.27", "--to", "1.28",
                                 "--provider", "local", "--report-dir", str(tmp_path / f"report-{i}")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        runs.append((proc, state, tmp_path / f"report-{i}"))
    outputs = [proc.communicate(timeout=900)[0] for proc, _, _ in runs]
    spans = []
    for (proc, state, report_dir), out in zip(runs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]
        doc = json.loads((report_dir / "report.json").read_text())
        assert doc["verdict"] == "pass" and doc["provider"] == "local", doc.get("error")
        start = datetime.strptime(doc["started"], "%Y-%m-%dT%H:%M:%SZ").timestamp()
        spans.append((start, start + doc["seconds"]))
        clusters = state / "local" / "clusters"
        assert not (sorted(clusters.iterdir()) if clusters.is_dir() else []), "a cluster was left behind"
    assert max(s for s, _ in spans) < min(e for _, e in spans), f"the two rehearsals did not overlap: {spans}"
