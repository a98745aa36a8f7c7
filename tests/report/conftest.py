"""Fixtures of the report tests (the reports themselves are built in report_builders.py)."""

from __future__ import annotations

import pytest
from report_builders import BUILDERS

from harness.report import Report


@pytest.fixture(params=sorted(BUILDERS))
def any_report(request: pytest.FixtureRequest) -> Report:
    """Each kind of report in turn."""
    return BUILDERS[request.param]()
