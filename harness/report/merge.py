"""Fleet merge: many rehearsal report directories (one per cluster) as one fleet.

A directory without a readable ``report.json`` (the rehearsal crashed) is a member whose verdict is ``error``, with
the reason; it never passes and never stops the merge. Fleet documents can be merged again (shards of shards).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import InputError
from harness.files import StrPath
from harness.report import json as report_json
from harness.report.json import FILENAME, FLEET_SCHEMAS_READ
from harness.report.model import Fleet, Member

_TAIL_BYTES = 4096


def merge(inputs: Sequence[StrPath], *, output: StrPath | None = None) -> Fleet:
    """Read every input (a report directory, a ``report.json``, or a fleet report) into one fleet.

    A missing or unreadable report makes that member errored; :class:`InputError` only when none of the inputs
    exists. ``output`` (the directory the fleet is written to) is skipped when it appears among the inputs.
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise InputError("report merge: no report directories given")
    if not any(p.exists() for p in paths):
        raise InputError(f"report merge: none of the inputs exists: {', '.join(str(p) for p in paths)}")
    out = Path(output).resolve() if output is not None else None
    fleet = Fleet([])
    for path in paths:
        if out is not None and path.exists() and path.resolve() in (out, out / FILENAME):
            fleet.notes.append(f"skipped {path}: it is the output directory of this merge")
            continue
        fleet.members.extend(_members_of(path, fleet.notes))
    if not fleet.members:
        raise InputError("report merge: nothing to merge (the only input is the output directory)")
    _unique_names(fleet)
    return fleet


def _label(path: Path) -> str:
    """A cluster's fallback name: its directory's name."""
    resolved = path if path.name not in ("", ".", "..") else path.resolve()
    return resolved.name or str(path)


def _members_of(path: Path, notes: list[str]) -> list[Member]:
    if path.is_dir():
        directory, file, label = path, path / FILENAME, _label(path)
    elif path.name == FILENAME:
        directory, file, label = path.parent, path, _label(path.parent)
    else:
        directory, file, label = path.parent, path, path.stem if path.exists() else _label(path)
    if not path.exists():
        return [Member(label, str(path), error=f"{path} does not exist (the rehearsal left no directory)")]
    if not file.exists():
        return [Member(label, str(path), error=_crash_reason(directory))]
    try:
        data = report_json.read_document(file)
        if data.get("schema") in FLEET_SCHEMAS_READ:
            inner = report_json.fleet_from_document(data, file)
            notes += [f"{file}: {n}" for n in inner.notes]
            return inner.members
        report = report_json.report_from_document(data, file)
    except InputError as e:
        return [Member(label, str(path), error=f"unreadable report: {e}")]
    return [Member(report.name or label, str(path), report)]


def _crash_reason(directory: Path) -> str:
    """Why a directory has no report: what it holds instead and the last line of its newest log."""
    reason = f"no {FILENAME} (the rehearsal did not finish)"
    try:
        files = sorted((p for p in directory.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime)
    except OSError:
        return reason
    if not files:
        return reason + "; the directory is empty"
    logs = [p for p in files if p.suffix in (".log", ".txt")]
    if not logs:
        shown = ", ".join(p.name for p in files[:5]) + (", …" if len(files) > 5 else "")
        return reason + f"; it holds {shown}"
    last = _last_line(logs[-1])
    return reason + (f"; last line of {logs[-1].name}: {last}" if last else f"; {logs[-1].name} is empty")


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(size - _TAIL_BYTES, 0))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _unique_names(fleet: Fleet) -> None:
    """Two clusters with the same name get ``name (2)``, ``name (3)``…; the merge says so."""
    seen: dict[str, int] = {}
    taken = {m.name for m in fleet.members}
    for member in fleet.members:
        count = seen.get(member.name, 0) + 1
        seen[member.name] = count
        if count == 1:
            continue
        new = f"{member.name} ({count})"
        while new in taken:
            count += 1
            new = f"{member.name} ({count})"
        taken.add(new)
        fleet.notes.append(f"two clusters are named {member.name!r}; the one from {member.source} is {new!r}")
        member.name = new
