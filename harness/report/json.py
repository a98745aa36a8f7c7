"""``report.json``: a report as a ``rehearse/report/v2`` document, a fleet as ``rehearse/fleet/v2`` (stable key order,
indent 2), and reading them back — v1 documents too (a fleet upgrades its runners one at a time).

Reading is strict about what the schema needs and lenient about what it does not know: fields a newer writer added
are dropped, so an older ``rehearse`` still reads a newer report of the same schema.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from harness.errors import InputError
from harness.files import StrPath
from harness.report import facts
from harness.report.model import (
    SCHEMA_V1,
    SCHEMAS_READ,
    CheckOutcome,
    CheckResult,
    Classification,
    Coverage,
    Evidence,
    Finding,
    Fleet,
    Member,
    Neutralised,
    ObjectRef,
    Outcome,
    Phase,
    PhaseStatus,
    Report,
    Safety,
    Severity,
    Verdict,
)

FILENAME = "report.json"
FLEET_SCHEMA = "rehearse/fleet/v2"
FLEET_SCHEMAS_READ = ("rehearse/fleet/v1", FLEET_SCHEMA)
# The top level in the order of the design notes, the verdict's summary (error, coverage: what it rests on) next to
# it; the rest follows in the model's field order.
_LEADING_KEYS = ("schema", "name", "from", "to", "hops", "provider", "verdict", "error", "coverage")


class ReportFileError(InputError, ValueError):
    """A report file is missing or malformed: the message names the file and the problem (exit 2)."""


def to_document(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready dict with the documented key order."""
    data = report.to_dict()
    ordered = {k: data[k] for k in _LEADING_KEYS if k in data}
    ordered.update((k, v) for k, v in data.items() if k not in ordered)
    return ordered


def dumps(document: dict[str, Any]) -> str:
    """Stable JSON text: keys in the given order, indent 2, UTF-8 characters kept, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render(report: Report) -> str:
    """The text of ``report.json``."""
    return dumps(to_document(report))


def fleet_to_document(fleet: Fleet) -> dict[str, Any]:
    """The fleet as a JSON-ready ``rehearse/fleet/v2`` dict: verdict, counts, each cluster with its report (each
    written as ``rehearse/report/v2``, whichever schema it was read from)."""
    return {
        "schema": FLEET_SCHEMA,
        "verdict": fleet.verdict,
        "counts": facts.verdict_counts(fleet),
        "clusters": [
            {
                "name": m.name,
                "source": m.source,
                "verdict": m.verdict,
                "error": m.error or (m.report.error if m.report else None),
                "report": to_document(m.report) if m.report is not None else None,
            }
            for m in fleet.members
        ],
        "notes": list(fleet.notes),
    }


def render_fleet(fleet: Fleet) -> str:
    """The text of a fleet's ``report.json``."""
    return dumps(fleet_to_document(fleet))


def read_document(path: Path) -> dict[str, Any]:
    """Parse a JSON file that must hold an object; :class:`InputError` names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ReportFileError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise ReportFileError(f"{path}: is a directory, expected a {FILENAME} file") from e
    except UnicodeDecodeError as e:
        raise ReportFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise ReportFileError(f"{path}: cannot read: {e.strerror or e}") from e
    if not text.strip():
        raise ReportFileError(f"{path}: empty file (the rehearsal may have stopped while writing it)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportFileError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(data, dict):
        raise ReportFileError(f"{path}: expected a JSON object at the top level, found {_type_name(data)}")
    return data


def report_from_document(data: dict[str, Any], path: Path | str) -> Report:
    """Check a parsed ``rehearse/report/v2`` (or v1) document and build the :class:`Report`."""
    schema = data.get("schema")
    if schema in FLEET_SCHEMAS_READ:
        raise ReportFileError(f"{path}: is a fleet report ({schema}), not the report of one rehearsal")
    if schema not in SCHEMAS_READ:
        raise ReportFileError(f"{path}: not a {' or '.join(SCHEMAS_READ)} document (schema: {schema!r})")
    try:
        cleaned = _clean_report(data)
        return Report.from_dict(cleaned)
    except _Invalid as e:
        raise ReportFileError(f"{path}: {e}") from None
    except (TypeError, ValueError, KeyError) as e:  # what the checks above did not foresee
        raise ReportFileError(f"{path}: malformed report: {e}") from e


def fleet_from_document(data: dict[str, Any], path: Path | str) -> Fleet:
    """Check a parsed ``rehearse/fleet/v2`` (or v1) document and build the :class:`Fleet`.

    Each member report is checked like a ``report.json``.
    """
    if data.get("schema") not in FLEET_SCHEMAS_READ:
        raise ReportFileError(f"{path}: not a {' or '.join(FLEET_SCHEMAS_READ)} document "
                              f"(schema: {data.get('schema')!r})")
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
            report = report_from_document(report_data, f"{path}: clusters[{i}].report")
        error = item.get("error") if report is None else None
        members.append(Member(item["name"], str(item.get("source", "")), report,
                              str(error) if error else (None if report else "no report")))
    notes = data.get("notes") or []
    return Fleet(members, [str(n) for n in notes] if isinstance(notes, list) else [])


def load_report(directory_or_file: StrPath) -> Report:
    """Read a ``report.json`` (or the one in a report directory).

    A missing or malformed file raises :class:`ReportFileError` (an ``InputError`` and a ``ValueError``) whose
    message names the file and the problem.
    """
    path = resolve(directory_or_file)
    return report_from_document(read_document(path), path)


def load_fleet(directory_or_file: StrPath) -> Fleet:
    """Read a fleet ``report.json`` (or the directory holding it)."""
    path = resolve(directory_or_file)
    return fleet_from_document(read_document(path), path)


def resolve(directory_or_file: StrPath) -> Path:
    """The ``report.json`` a path means: the file itself, or the one inside a directory."""
    path = Path(directory_or_file)
    if path.is_dir():
        candidate = path / FILENAME
        if not candidate.exists():
            raise ReportFileError(f"{path}: no {FILENAME} in this directory (did the rehearsal finish?)")
        return candidate
    if not path.exists():
        raise ReportFileError(f"{path}: no such file or directory")
    return path


class _Invalid(Exception):
    """A field is missing or has the wrong type (the message says where)."""


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _known(cls: type, data: dict[str, Any], *, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """Only the keys the dataclass knows (``renames`` maps JSON names to field names)."""
    names = {f.name for f in dataclasses.fields(cls)}
    renames = renames or {}
    return {k: v for k, v in data.items() if renames.get(k, k) in names or k == "schema"}


def _need(data: dict[str, Any], where: str, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if key not in data:
        if optional:
            return None
        raise _Invalid(f"{where}: missing '{key}'")
    value = data[key]
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind in (int, float, (int, float)) and isinstance(value, bool)):
        expected = {str: "a string", list: "an array", dict: "an object", (int, float): "a number",
                    int: "a whole number"}.get(kind, str(kind))
        raise _Invalid(f"{where}: '{key}' must be {expected}, found {_type_name(value)}")
    return value


def _choice(data: dict[str, Any], where: str, key: str, allowed: tuple[str, ...]) -> None:
    value = _need(data, where, key, str)
    if value not in allowed:
        raise _Invalid(f"{where}: '{key}' is {value!r}, expected one of {', '.join(allowed)}")


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = _need(data, "report", key, list, optional=True) or []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Invalid(f"{key}[{i}]: must be an object, found {_type_name(item)}")
    return value


def _clean_report(data: dict[str, Any]) -> dict[str, Any]:
    where = "report"
    for key in ("from", "to", "provider"):
        _need(data, where, key, str)
    _choice(data, where, "verdict", get_args(Verdict))
    hops = _need(data, where, "hops", list)
    if not all(isinstance(h, str) for h in hops):
        raise _Invalid("report: 'hops' must be an array of strings")
    for key in ("seconds", "api_downtime_seconds"):
        _need(data, where, key, (int, float), optional=True)
    for key in ("notes",):
        _need(data, where, key, list, optional=True)
    for key in ("versions_used",):
        _need(data, where, key, dict, optional=True)
    out = _known(Report, data, renames={"from": "from_version", "to": "to_version"})

    phases = []
    for i, p in enumerate(_items(data, "phases")):
        w = f"phases[{i}]"
        _need(p, w, "name", str)
        _choice(p, w, "status", get_args(PhaseStatus))
        _need(p, w, "seconds", (int, float))
        _need(p, w, "details", dict, optional=True)
        phases.append(_known(Phase, p))
    out["phases"] = phases

    checks = []
    for i, c in enumerate(_items(data, "checks")):
        w = f"checks[{i}]"
        _need(c, w, "id", str)
        _need(c, w, "name", str)
        v1_only = _V1_ONLY_CLASSIFICATIONS if data.get("schema") == SCHEMA_V1 else ()
        _choice(c, w, "classification", (*get_args(Classification), *v1_only))
        _optional_choice(c, w, "evidence", get_args(Evidence))
        clean = _known(CheckResult, c)
        for side in ("before", "after"):
            run = _need(c, w, side, dict, optional=True)
            if run is not None:
                _choice(run, f"{w}.{side}", "outcome", get_args(Outcome))
                _need(run, f"{w}.{side}", "seconds", (int, float), optional=True)
                _optional_choice(run, f"{w}.{side}", "evidence", get_args(Evidence))
                run = _known(CheckOutcome, run)
            clean[side] = run
        checks.append(clean)
    out["checks"] = checks

    findings = []
    for i, f in enumerate(_items(data, "findings")):
        w = f"findings[{i}]"
        _choice(f, w, "severity", get_args(Severity))
        for key in ("kind", "cause", "fix"):
            _need(f, w, key, str)
        _optional_choice(f, w, "evidence", get_args(Evidence))
        obj = _need(f, w, "object", dict)
        clean = _known(Finding, f)
        clean["object"] = _known(ObjectRef, obj)
        findings.append(clean)
    out["findings"] = findings
    out["coverage"] = _clean_coverage(data)
    out["safety"] = _clean_safety(data)
    return out


_V1_ONLY_CLASSIFICATIONS = ("skipped",)  # v1's "skipped before or after": read as not-judged (model.from_dict)


def _optional_choice(data: dict[str, Any], where: str, key: str, allowed: tuple[str, ...]) -> None:
    if data.get(key) is not None:
        _choice(data, where, key, allowed)


def _clean_coverage(data: dict[str, Any]) -> dict[str, Any] | None:
    cov = _need(data, "report", "coverage", dict, optional=True)
    if cov is None:
        return None
    w = "coverage"
    for key in ("objects_recreated", "helm_releases"):
        _need(cov, w, key, int, optional=True)
    _number_map(cov, w, "checks")
    _string_list(cov, w, "simulated")
    clean = _known(Coverage, cov)
    clean["not_recreated"] = []
    for where, item in _object_items(cov, w, "not_recreated"):
        _need(item, where, "reason", str)
        clean["not_recreated"].append({"object": _known(ObjectRef, _need(item, where, "object", dict)),
                                       "reason": item["reason"]})
    return clean


def _clean_safety(data: dict[str, Any]) -> dict[str, Any] | None:
    safety = _need(data, "report", "safety", dict, optional=True)
    if safety is None:
        return None
    w = "safety"
    _string_list(safety, w, "egress_open")
    _number_map(safety, w, "stub_calls")
    clean = _known(Safety, safety)
    clean["neutralised"] = []
    for where, item in _object_items(safety, w, "neutralised"):
        for key in ("field", "host", "reason"):
            _need(item, where, key, str)
        _need(item, where, "check", str, optional=True)
        entry = _known(Neutralised, item)
        entry["object"] = _known(ObjectRef, _need(item, where, "object", dict))
        clean["neutralised"].append(entry)
    return clean


def _string_list(data: dict[str, Any], where: str, key: str) -> None:
    values = _need(data, where, key, list, optional=True) or []
    if not all(isinstance(v, str) for v in values):
        raise _Invalid(f"{where}: '{key}' must be an array of strings")


def _number_map(data: dict[str, Any], where: str, key: str) -> None:
    values = _need(data, where, key, dict, optional=True) or {}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
        raise _Invalid(f"{where}: '{key}' must map names to numbers")


def _object_items(data: dict[str, Any], where: str, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, item in enumerate(_need(data, where, key, list, optional=True) or []):
        at = f"{where}.{key}[{i}]"
        if not isinstance(item, dict):
            raise _Invalid(f"{at}: must be an object, found {_type_name(item)}")
        yield at, item
