"""Reports: what a rehearsal found, written as ``report.json``, ``junit.xml``, ``summary.md`` and ``report.html``.

``write_reports`` writes them all; ``load_report`` reads ``report.json`` back. The renderers live in
:mod:`harness.report.json`, :mod:`~harness.report.junit`, :mod:`~harness.report.markdown`,
:mod:`~harness.report.html` and :mod:`~harness.report.console`; the fleet merge in :mod:`harness.report.merge`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.errors import InputError
from harness.report._facts import StrPath
from harness.report.json import ReportFileError
from harness.report.model import (
    SCHEMA,
    CheckOutcome,
    CheckResult,
    Finding,
    ObjectRef,
    Phase,
    Report,
    classify,
    verdict_of,
)

__all__ = [
    "SCHEMA",
    "CheckOutcome",
    "CheckResult",
    "Finding",
    "ObjectRef",
    "Phase",
    "Report",
    "ReportFileError",
    "classify",
    "load_report",
    "verdict_of",
    "write_reports",
]


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
    from harness.report import html as html_report
    from harness.report import json as json_report
    from harness.report import junit as junit_report
    from harness.report import markdown as markdown_report
    from harness.report._facts import write_bytes, write_text

    junit_report.check_granularity(granularity)
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a directory (the report directory)")
    written = {
        "json": write_text(target / json_report.FILENAME, json_report.render(report)),
        "junit": write_bytes(target / junit_report.FILENAME, junit_report.render(report, granularity=granularity)),
        "markdown": write_text(target / markdown_report.FILENAME, markdown_report.render(report)),
        "html": write_text(target / html_report.FILENAME, html_report.render(report)),
    }
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


def load_report(directory_or_file: StrPath) -> Report:
    """Read a ``report.json`` (or the one in a report directory).

    A missing or malformed file raises :class:`ReportFileError` (an ``InputError`` and a ``ValueError``) whose
    message names the file and the problem.
    """
    from harness.report import json as json_report

    return json_report.load(json_report.resolve(directory_or_file))
