"""Writing files so that a reader sees the old file or the whole new one, never a part (a crash included)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TypeAlias

StrPath: TypeAlias = "str | os.PathLike[str]"


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o666) -> None:
    """Write ``data`` (text as UTF-8) to ``path``: a temporary file beside it, flushed to disk, then renamed over it.

    ``mode`` is what the new file is created with, less the umask (``0o666``, like ``open``; ``0o600`` for a file
    only its owner may read). Missing parent directories are created. An ``OSError`` leaves no temporary file.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def cache_root() -> Path:
    """``$REHEARSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/rehearse``, else ``~/.cache/rehearse``: binaries, tools,
    node-image inputs and the parsed knowledge live there."""
    env = os.environ.get("REHEARSE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rehearse"
