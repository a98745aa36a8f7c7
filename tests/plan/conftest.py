"""Fixtures of the plan tests."""

from __future__ import annotations

import pytest

from harness.knowledge import Knowledge, packaged_knowledge, with_generated


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    """What `rehearse plan` uses without --knowledge: the curated data plus the generated facts."""
    return with_generated(packaged_knowledge())
