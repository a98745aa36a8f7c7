"""Writing report directories: one rehearsal's (``write_reports``) or a fleet's (``write_fleet``) four files.

Every file is written atomically: a crash leaves the old file or none, never half a report.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.errors import InputError
from harness.files import StrPath, write_atomic
from harness.report import html as html_report
from harness.report import json as json_report
from harness.report import junit as junit_report
from harness.report import markdown as markdown_report
from harness.report.model import Fleet, Report

_FILENAMES = {"json": json_report.FILENAME, "junit": junit_report.FILENAME, "markdown": markdown_report.FILENAME,
              "html": html_report.FILENAME}


def write_reports(
    report: Report,
    directory: StrPath,
    *,
    junit: StrPath | None = None,
    json_path: StrPath | None = None,
    markdown: StrPath | None = None,
    html: StrPath | None = None,
    granularity: str = "check",
) -> dict[str, Path]:
    """Write ``report.json``, ``junit.xml``, ``summary.md`` and ``report.html`` into ``directory``.

    ``junit``, ``json_path``, ``markdown`` and ``html`` are extra copies (an existing directory gets the file
    under its usual name). Returns the paths written by kind: ``json``, ``junit``, ``markdown``, ``html``, and
    ``json-copy``, ``junit-copy``… for the copies. ``granularity`` is the JUnit one: ``check`` or ``phase``.
    """
    junit_report.check_granularity(granularity)
    target = _directory(directory, " (the report directory)")
    written = _write_documents(target, {
        "json": json_report.render(report),
        "junit": junit_report.render(report, granularity=granularity),
        "markdown": markdown_report.render(report),
        "html": html_report.render(report),
    })
    extras = {"json": json_path, "junit": junit, "markdown": markdown, "html": html}
    for kind, extra in extras.items():
        if extra is None:
            continue
        source = written[kind]
        dest = Path(extra)
        if dest.is_dir():
            dest = dest / source.name
        if dest.resolve() == source.resolve():
            continue
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        except OSError as e:
            raise InputError(f"{dest}: cannot write the {kind} report: {e.strerror or e}") from e
        written[f"{kind}-copy"] = dest
    return written


def write_fleet(fleet: Fleet, directory: StrPath, *, granularity: str = "check") -> dict[str, Path]:
    """Write ``report.json`` (fleet/v2), ``junit.xml``, ``summary.md`` and ``report.html`` into ``directory``."""
    target = _directory(directory, "")
    return _write_documents(target, {
        "json": json_report.render_fleet(fleet),
        "junit": junit_report.render_fleet(fleet, granularity=granularity),
        "markdown": markdown_report.render_fleet(fleet),
        "html": html_report.render_fleet(fleet),
    })


def _directory(directory: StrPath, role: str) -> Path:
    """``directory`` as a path, unless a file of that name is in the way (``role`` says what it is for)."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a directory{role}")
    return target


def _write_documents(directory: Path, documents: dict[str, str | bytes]) -> dict[str, Path]:
    """Write each document, by kind, under its file name; UTF-8 cannot hold lone surrogates: they become ``?``."""
    written: dict[str, Path] = {}
    for kind, data in documents.items():
        path = directory / _FILENAMES[kind]
        try:
            write_atomic(path, data.encode("utf-8", errors="replace") if isinstance(data, str) else data)
        except OSError as e:
            raise InputError(f"{path}: cannot write: {e.strerror or e}") from e
        written[kind] = path
    return written
