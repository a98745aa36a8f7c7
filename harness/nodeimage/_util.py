"""Small helpers shared by the node-image builders: the cache, commands, tar streams, commands in containers."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.engine import run_in
from harness.errors import InfraError
from harness.files import cache_root

# The node-image layout of kind's Go module (images/base/files) at the release rehearse runs is the contract.
KIND_MODULE = "sigs.k8s.io/kind"
# Locally built images are named under localhost/: a reference that is somehow missing makes the engine try
# localhost (loopback) and fail, never a registry elsewhere.
LOCAL_PREFIX = "localhost/rehearse"


class BuildFailed(InfraError):
    """A step of the node-image build failed; the message names the step and its own error."""


def kind_root() -> Path:
    """``~/.cache/rehearse/kind``: the debootstrap root, built tools and image stamps."""
    root = cache_root() / "kind"
    root.mkdir(parents=True, exist_ok=True)
    return root


def run(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        timeout: float = 1800, what: str | None = None) -> str:
    """Run a command, return its stdout; raise :class:`BuildFailed` with its last error line otherwise."""
    proc = subprocess.run(list(args), cwd=cwd, env=dict(env) if env is not None else None, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise BuildFailed(f"{what or args[0]} failed (exit {proc.returncode}): {lines[-1] if lines else ''}")
    return proc.stdout


def digest(parts: Iterable[str | bytes]) -> str:
    """A short stable hash of build inputs (cache keys and image labels)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def file_digest(path: Path) -> str:
    st = path.stat()
    return f"{path.name}:{st.st_size}:{int(st.st_mtime)}"


@dataclass(frozen=True)
class Entry:
    """One member of a tar stream built in memory or from disk."""

    path: str
    data: bytes | None = None
    source: Path | None = None
    mode: int = 0o644
    symlink: str | None = None
    directory: bool = False


def tar_bytes(entries: Iterable[Entry]) -> bytes:
    """A tar archive of ``entries`` (owned by root, fixed mtime)."""
    buf = io.BytesIO()
    write_tar(buf, entries)
    return buf.getvalue()


def write_tar(fileobj: Any, entries: Iterable[Entry]) -> None:
    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = int(time.time())
            info.mode = e.mode
            if e.directory:
                info.type = tarfile.DIRTYPE
                info.mode = e.mode if e.mode != 0o644 else 0o755
                tar.addfile(info)
            elif e.symlink is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = e.symlink
                info.mode = 0o777
                tar.addfile(info)
            elif e.source is not None:
                info.size = e.source.stat().st_size
                with e.source.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                data = e.data or b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def exec_in(container: Any, cmd: Sequence[str] | str, *, what: str | None = None, check: bool = True,
            environment: Mapping[str, str] | None = None) -> str:
    """Run ``cmd`` in a running container through the docker SDK; raise on a non-zero exit when ``check``."""
    argv, code, out = run_in(container, cmd, environment)
    if check and code != 0:
        lines = [ln for ln in out.splitlines() if ln.strip()]
        raise BuildFailed(f"{what or argv[-1][:80]} failed in {container.name} (exit {code}): "
                          f"{lines[-1] if lines else ''}")
    return out


def sys_resource_missing() -> bool:
    """Whether this host's capability bounding set lacks CAP_SYS_RESOURCE (capability 24)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return not (int(line.split()[1], 16) >> 24) & 1
    except OSError:
        pass
    return False


def environ(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
