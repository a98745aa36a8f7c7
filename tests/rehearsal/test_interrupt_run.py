"""Ctrl-C (and SIGTERM) during `rehearse run`: exit 130 after cleanup, no cluster process or directory left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import processes as _procs
from tests.conftest import default_sigint
from tests.rehearsal._run import leftovers

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_rehearsal_cleans_up(sig: signal.Signals, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = dict(os.environ, REHEARSE_STATE_DIR=str(state), CI="true")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "--from", "1.27", "--to", "1.28",
                             "--report-dir", str(tmp_path / "r")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)  # noqa: PLW1509 (only signal.signal runs there)
    clusters = state / "local" / "clusters"
    deadline = time.monotonic() + 120
    while not list(clusters.glob("*/pids/kube-apiserver.pid")):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    running = _procs.processes_under(clusters)
    assert running
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not leftovers(state)
    assert not [p for p in running if _procs.alive(p)]
