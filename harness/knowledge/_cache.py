"""The parsed knowledge, cached on disk between runs: reading and checking a dozen YAML files costs more than the
plan that uses them (``rehearse plan`` on a thousand manifests spends a fifth of its CPU there).

The key covers everything the result depends on: this package's code, every file of the packaged knowledge and of
the user's ``--knowledge`` directories (path, size, modification time) and the options. A miss, a file that cannot
be read or one written by another version is simply parsed again; nothing here can change an answer.
"""

from __future__ import annotations

import copyreg
import hashlib
import pickle
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness import __version__
from harness.files import cache_root, write_atomic
from harness.knowledge.model import Knowledge


def _read_only(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


# Knowledge keeps its tables read-only (MappingProxyType), which pickle cannot take as such.
copyreg.pickle(MappingProxyType, lambda m: (_read_only, (dict(m),)))


def _stamp(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(paths):
        st = path.stat()
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def cached(inputs: Iterable[Path], options: str, build: Callable[[], Knowledge]) -> Knowledge:
    """``build()``, or the copy cached for exactly these ``inputs`` (files) and ``options``."""
    code = Path(__file__).parent
    try:
        key = _stamp([*inputs, *code.rglob("*.py")]) + options
    except OSError:
        return build()
    path = cache_root() / "knowledge" / f"{key}.pickle"
    try:
        loaded: Any = pickle.loads(path.read_bytes())
        if isinstance(loaded, Knowledge):
            return loaded
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass
    knowledge = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for old in path.parent.glob("*.pickle"):  # entries of other inputs, unused for a day, go
            if old != path and time.time() - old.stat().st_mtime > 86400:
                old.unlink(missing_ok=True)
        write_atomic(path, pickle.dumps(knowledge, protocol=pickle.HIGHEST_PROTOCOL), mode=0o600)
    except (OSError, pickle.PickleError, TypeError):
        pass  # a cache that cannot be written costs the next run a parse, nothing more
    return knowledge
