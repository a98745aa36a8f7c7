"""Ctrl-C and SIGTERM in the middle of a create or an upgrade leave no process and no directory behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness import processes as _procs
from harness.binaries import BinarySet
from tests.conftest import default_sigint

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import signal, sys
    from pathlib import Path
    from harness.providers.base import ClusterOptions, NodeSpec
    from harness.providers.local import LocalProvider
    from harness.versions import Version

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    root, phase, v_from, v_to = Path(sys.argv[1]), sys.argv[2], Version.parse(sys.argv[3]), Version.parse(sys.argv[4])
    p = LocalProvider(root=root)
    try:
        with p.cluster("intr", v_from, ClusterOptions(nodes=[NodeSpec("n1")])) as c:
            print("CREATED", flush=True)
            if phase == "upgrade":
                p.upgrade_control_plane(c, v_to)
            print("DONE", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
""")


def _wait_file(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("phase", ["create", "upgrade"])
def test_interrupt_leaves_nothing(
    phase: str, sig: signal.Signals, bin127: BinarySet, bin128: BinarySet, tmp_path: Path
) -> None:
    root = tmp_path / "state"
    cdir = root / "local" / "clusters" / "intr"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(root), phase, str(bin127.version), str(bin128.version)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=default_sigint,  # noqa: PLW1509
    )
    if phase == "create":
        _wait_file(cdir / "pids" / "etcd.pid")  # midway: etcd is up, the rest is starting
    else:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "CREATED"
        apiserver_pid = cdir / "pids" / "kube-apiserver.pid"
        old = _procs.read_pid(apiserver_pid)
        deadline = time.monotonic() + 60
        while _procs.read_pid(apiserver_pid) in (old, None):  # the new apiserver has been started
            assert time.monotonic() < deadline
            time.sleep(0.02)
    seen = _procs.processes_under(cdir)
    assert seen, "expected running cluster processes before the interrupt"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "INTERRUPTED" in out
    assert not cdir.exists()
    assert not [p for p in seen if _procs.alive(p)]
