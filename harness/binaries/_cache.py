"""The on-disk binary cache: where things live, atomic installs and a cross-process lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.files import write_atomic


@contextlib.contextmanager
def locked(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` under ``root`` (blocks while another run holds it)."""
    lock_dir = root / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{name}.lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def install_file(src: Path, dest: Path) -> None:
    """Move ``src`` to ``dest`` atomically as an executable: ``dest`` is either absent or complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(src, 0o755)
    os.replace(src, dest)


def staging_dir(dest_dir: Path) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory on the same file system as ``dest_dir``, so that installs are renames."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".partial-", dir=dest_dir)


def remove_stale_partials(dest_dir: Path) -> None:
    """Remove what a killed run left behind (it never counts as cached)."""
    if not dest_dir.is_dir():
        return
    for p in dest_dir.glob(".partial-*"):
        shutil.rmtree(p, ignore_errors=True)


def link(target: Path, link_path: Path) -> None:
    """Point ``link_path`` at ``target`` (atomically replacing an older link)."""
    tmp = link_path.with_name(f".{link_path.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link_path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
