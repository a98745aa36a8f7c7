"""Reports: what a rehearsal found, written as ``report.json``, ``junit.xml``, ``summary.md`` and ``report.html``.

Every format shows the same four sections in the same order (broke in this rehearsal, predicted to break, already
broken before the upgrade, not judged), how each line is known (observed, simulated, predicted) and the coverage
the verdict rests on (:func:`harness.report.facts.sections`, :func:`~harness.report.facts.coverage_line`).

``write_reports`` writes them all; ``load_report`` reads ``report.json`` back. The model lives in
:mod:`harness.report.model`; the renderers in :mod:`harness.report.json`, :mod:`~harness.report.junit`,
:mod:`~harness.report.markdown`, :mod:`~harness.report.html` and :mod:`~harness.report.console`, with what they all
say the same way in :mod:`~harness.report.facts`; file writing in :mod:`~harness.report.write`; the fleet merge in
:mod:`~harness.report.merge`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.report.model import (
    SCHEMA,
    CheckOutcome,
    CheckResult,
    Coverage,
    Finding,
    Neutralised,
    NotRecreated,
    ObjectRef,
    Phase,
    Report,
    Safety,
    classify,
    verdict_of,
)

if TYPE_CHECKING:
    from harness.report.json import ReportFileError, load_report
    from harness.report.write import write_reports

# The writers (junitparser, the HTML and Markdown renderers) are imported when first used: every stage imports the
# model through this package, and a plan that writes no report should not pay for them.
_LAZY = {"ReportFileError": "harness.report.json", "load_report": "harness.report.json",
         "write_reports": "harness.report.write"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "SCHEMA",
    "CheckOutcome",
    "CheckResult",
    "Coverage",
    "Finding",
    "Neutralised",
    "NotRecreated",
    "ObjectRef",
    "Phase",
    "Report",
    "ReportFileError",
    "Safety",
    "classify",
    "load_report",
    "verdict_of",
    "write_reports",
]

