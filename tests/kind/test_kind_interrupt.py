"""Ctrl-C while kind creates the cluster: the provider stops kind and deletes everything it started."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from harness.providers.kind import CLUSTER_LABEL
from tests.conftest import default_sigint
from tests.kind.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.docker]

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from harness.providers.base import ClusterOptions
    from harness.providers.kind import KindProvider
    from harness.versions import catalogue
    provider = KindProvider(images={"1.27": sys.argv[2]}, node_count=2, root=Path(sys.argv[3]))
    provider.create(sys.argv[1], catalogue().resolve("1.27"), ClusterOptions())
    print("created")
""")


def _containers(engine: Any, name: str) -> list[Any]:
    return list(engine.api.containers(all=True, filters={"label": f"{CLUSTER_LABEL}={name}"}))


def _remove(engine: Any, name: str) -> None:
    for c in _containers(engine, name):
        engine.api.remove_container(c["Id"], force=True, v=True)


def test_ctrl_c_during_create_leaves_nothing(engine: Any, node_images: dict[str, str], one_cluster_at_a_time: None,
                                             tmp_path: Path) -> None:
    name = "rehearse-interrupt"
    _remove(engine, name)  # what an earlier, failed run of this test may have left
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, name, node_images["1.27"], str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_sigint)  # noqa: PLW1509 (only signal.signal runs there)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _containers(engine, name) and proc.poll() is None:
            time.sleep(0.5)
        assert _containers(engine, name), "kind never started the node containers"
        time.sleep(3)  # well inside `kind create cluster` (kubeadm init takes longer than this)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        left = _containers(engine, name)
        _remove(engine, name)  # whatever the outcome, the next run starts clean
    assert proc.returncode != 0
    assert "created" not in out
    assert "KeyboardInterrupt" in out
    assert left == []
    assert not (tmp_path / "kind" / "clusters" / name).exists()
