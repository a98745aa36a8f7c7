"""The Docker engine: a client for the local engine, commands in its containers, files out of them.

Used by the kind provider (node containers) and by the node-image builder (:mod:`harness.nodeimage`).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from harness.errors import InfraError


def docker_client(timeout: int = 600) -> Any:
    """A docker SDK client for the local engine (``DOCKER_HOST`` honoured)."""
    try:
        import docker
    except ImportError as e:  # pragma: no cover - docker is a dependency
        raise InfraError("the docker Python package is not installed") from e
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        # Checked first: the SDK leaks its socket when nobody listens on the path (absent, or left by a stopped
        # engine).
        path = host[len("unix://"):]
        if not Path(path).exists():
            raise InfraError(f"no Docker engine answers (no socket at {host}); start one (scripts/kind/engine.sh "
                             "here)")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            try:
                probe.connect(path)
            except OSError as e:
                raise InfraError(f"no Docker engine answers on {host} ({e.strerror or e}); start one "
                                 "(scripts/kind/engine.sh here)") from e
    client = None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:
        if client is not None:
            client.close()
        raise InfraError(f"no Docker engine answers ({e}); start one (scripts/kind/engine.sh here)") from e
    return client


def run_in(container: Any, cmd: Sequence[str] | str,
           environment: Mapping[str, str] | None = None) -> tuple[list[str], int, str]:
    """Run ``cmd`` (a string runs under ``sh -c``) in a running container: (argv, exit code, output)."""
    argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    res = container.exec_run(argv, environment=dict(environment or {}), demux=False)
    return argv, int(res.exit_code), (res.output or b"").decode(errors="replace")


def copy_out(container: Any, path: str, out: IO[bytes]) -> None:
    """Stream the file at ``path`` in ``container`` into ``out`` (the SDK hands out a tar stream)."""
    stream, _ = container.get_archive(path)
    with tempfile.TemporaryFile() as tmp:
        for chunk in stream:
            tmp.write(chunk)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    src = tar.extractfile(member)
                    assert src is not None
                    shutil.copyfileobj(src, out, 1 << 20)
                    return
    raise InfraError(f"{path} is not a file in {container.name}")


def read_file(container: Any, path: str) -> bytes:
    """One file out of a container."""
    buf = io.BytesIO()
    copy_out(container, path, buf)
    return buf.getvalue()
