"""Run the real `rehearse` command line in a subprocess with its own state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def rehearse(*args: str, state: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REHEARSE_STATE_DIR=str(state), CI="true")
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


def report(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "report.json").read_text())
    return data


def leftovers(state: Path) -> list[Path]:
    """Cluster directories left in the state directory (there must be none after a run)."""
    clusters = state / "local" / "clusters"
    return sorted(clusters.iterdir()) if clusters.is_dir() else []
