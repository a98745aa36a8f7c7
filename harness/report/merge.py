"""Fleet merge: many rehearsal report directories (one per cluster) as one ``rehearse/fleet/v1`` report.

A directory without a readable ``report.json`` (the rehearsal crashed) is a member whose verdict is ``error``, with
the reason; it never passes and never stops the merge. Fleet documents can be merged again (shards of shards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.report import json as report_json
from harness.report._facts import StrPath, write_bytes, write_text
from harness.report.json import FILENAME, FLEET_SCHEMA, ReportFileError
from harness.report.model import Report, Verdict

EXIT_CODES: dict[Verdict, int] = {"pass": 0, "broke": 1, "error": 3}
EXIT_ORDER_NOTE = "exit code: 1 if any cluster broke, else 3 if any errored (no readable report), else 0"
_TAIL_BYTES = 4096


@dataclass
class Member:
    """One cluster of the fleet: its report, or why there is none."""

    name: str
    source: str
    report: Report | None = None
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        return self.report.verdict if self.report is not None else "error"


@dataclass
class Fleet:
    """The members in input order and what the merge had to say (skipped inputs, renamed labels)."""

    members: list[Member]
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """``broke`` when any cluster broke, else ``error`` when any errored, else ``pass``."""
        verdicts = {m.verdict for m in self.members}
        if "broke" in verdicts:
            return "broke"
        return "error" if "error" in verdicts else "pass"

    def to_dict(self) -> dict[str, Any]:
        counts = {v: sum(1 for m in self.members if m.verdict == v) for v in ("pass", "broke", "error")}
        return {
            "schema": FLEET_SCHEMA,
            "verdict": self.verdict,
            "counts": counts,
            "clusters": [
                {
                    "name": m.name,
                    "source": m.source,
                    "verdict": m.verdict,
                    "error": m.error or (m.report.error if m.report else None),
                    "report": report_json.to_document(m.report) if m.report is not None else None,
                }
                for m in self.members
            ],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | str = "fleet") -> Fleet:
        """Read a fleet document back (each member report is checked like a ``report.json``)."""
        if data.get("schema") != FLEET_SCHEMA:
            raise ReportFileError(f"{path}: not a {FLEET_SCHEMA} document (schema: {data.get('schema')!r})")
        clusters = data.get("clusters")
        if not isinstance(clusters, list):
            raise ReportFileError(f"{path}: 'clusters' must be an array")
        members = []
        for i, item in enumerate(clusters):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ReportFileError(f"{path}: clusters[{i}] must be an object with a 'name'")
            report_data = item.get("report")
            report = None
            if report_data is not None:
                if not isinstance(report_data, dict):
                    raise ReportFileError(f"{path}: clusters[{i}].report must be an object")
                report = report_json.report_from_document(report_data, f"{path}: clusters[{i}].report")
            error = item.get("error") if report is None else None
            members.append(Member(item["name"], str(item.get("source", "")), report,
                                  str(error) if error else (None if report else "no report")))
        notes = data.get("notes") or []
        return cls(members, [str(n) for n in notes] if isinstance(notes, list) else [])


def exit_code(fleet: Fleet) -> int:
    """1 if any cluster broke, else 3 if any errored, else 0."""
    return EXIT_CODES[fleet.verdict]


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


def load_fleet(directory_or_file: StrPath) -> Fleet:
    """Read a fleet ``report.json`` (or the directory holding it)."""
    path = report_json.resolve(directory_or_file)
    return Fleet.from_dict(report_json.read_document(path), path)


def write_fleet(fleet: Fleet, directory: StrPath, *, granularity: str = "check") -> dict[str, Path]:
    """Write ``report.json`` (fleet/v1), ``junit.xml``, ``summary.md`` and ``report.html`` into ``directory``."""
    from harness.report import html, junit, markdown

    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a directory")
    junit_bytes = junit.render_fleet(fleet, granularity=granularity)
    return {
        "json": write_text(target / FILENAME, report_json.dumps(fleet.to_dict())),
        "junit": write_bytes(target / junit.FILENAME, junit_bytes),
        "markdown": write_text(target / markdown.FILENAME, markdown.render_fleet(fleet)),
        "html": write_text(target / html.FILENAME, html.render_fleet(fleet)),
    }


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
        if data.get("schema") == FLEET_SCHEMA:
            inner = Fleet.from_dict(data, file)
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
