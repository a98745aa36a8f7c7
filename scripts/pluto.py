#!/usr/bin/env python3
"""Fairwinds pluto, the tool users would otherwise run to find removed APIs in manifests: where its binary is cached
and what it finds, for the plan benchmark (scripts/bench_plan.py).

This project never ships, commits or builds pluto (no build recipe lives here): a binary built by hand, outside
the project, from a copy of github.com/FairwindsOps/pluto is looked for at ``$REHEARSE_PLUTO`` or
``<rehearse cache>/tools/pluto/<commit>/pluto``, the newest such directory first (a ``SOURCE`` file beside it may
say which release it is).

    python scripts/pluto.py            # prints the cached binary's path and version, or why there is none
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.files import cache_root  # noqa: E402

Found = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


@dataclass(frozen=True)
class Pluto:
    """A pluto binary and what to call it."""

    path: Path
    version: str


def cached_pluto() -> Pluto | None:
    """The pluto binary named by ``$REHEARSE_PLUTO``, else the newest under the rehearse cache; None if none."""
    named = os.environ.get("REHEARSE_PLUTO")
    candidates = [Path(named)] if named else sorted(
        (cache_root() / "tools" / "pluto").glob("*/pluto"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            source = path.parent / "SOURCE"  # a line saying what was built, when the builder left one
            version = source.read_text(encoding="utf-8").split("(")[0].strip() if source.is_file() else path.parent.name
            return Pluto(path, version)
    return None


def missing_text() -> str:
    """One line saying where a pluto binary is looked for."""
    return (f"no pluto binary at $REHEARSE_PLUTO or {cache_root() / 'tools' / 'pluto' / '<commit>' / 'pluto'} "
            "(a binary built by hand from github.com/FairwindsOps/pluto, outside this project)")


def command(pluto: Pluto, directory: Path, target: str) -> list[str]:
    """``pluto detect-files`` over ``directory`` for Kubernetes ``target`` (``1.32``), as JSON on stdout."""
    return [str(pluto.path), "detect-files", "-d", str(directory), "--target-versions", f"k8s=v{target}.0",
            "-o", "json"]


def removed_objects(stdout: str) -> set[Found]:
    """The objects pluto's JSON output says use an API removed at the target version."""
    doc = json.loads(stdout or "{}")
    out: set[Found] = set()
    for item in doc.get("items") or []:
        if not item.get("removed"):
            continue
        api = item.get("api") or {}
        out.add((str(api.get("version", "")), str(api.get("kind", "")), str(item.get("namespace") or ""),
                 str(item.get("name", ""))))
    return out


def main() -> int:
    found = cached_pluto()
    print(f"{found.path} ({found.version})" if found else missing_text())
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
