"""`rehearse clusters list|delete` on clusters kept by the local provider (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import processes as _procs
from harness.binaries import BinarySet
from harness.providers.base import ClusterOptions, NodeSpec
from harness.providers.local import LocalProvider

pytestmark = pytest.mark.slow


def cli(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REHEARSE_STATE_DIR=str(state))
    return subprocess.run([sys.executable, "-m", "harness", "clusters", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_list_and_delete_kept_clusters(bin127: BinarySet, tmp_path: Path) -> None:
    state = tmp_path / "state"
    provider = LocalProvider(root=state)
    kept = [provider.create(n, bin127.version, ClusterOptions(nodes=[NodeSpec("n1")])) for n in ("kept-a", "kept-b")]
    pids = _procs.processes_under(state)
    assert pids

    listed = cli("list", state=state)
    assert listed.returncode == 0, listed.stderr
    rows = [ln.split() for ln in listed.stdout.splitlines()[1:] if ln.strip()]
    assert sorted(r[0] for r in rows) == ["kept-a", "kept-b"]
    assert all(r[1] == "local" and r[2] == str(bin127.version) and r[4] == "running" for r in rows)

    assert cli("delete", "no-such", state=state).returncode == 2
    assert cli("delete", state=state).returncode == 2
    one = cli("delete", "kept-a", state=state)
    assert one.returncode == 0 and not kept[0].workdir.exists() and kept[1].workdir.exists()
    rest = cli("delete", "--all", state=state)
    assert rest.returncode == 0 and not kept[1].workdir.exists()
    assert not [p for p in pids if _procs.alive(p)]
    assert "no rehearsal clusters" in cli("list", state=state).stderr
