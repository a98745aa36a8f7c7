"""`plan(hops=...)`: a caller that already has the hops (the rehearsal) passes them and they are not computed again."""

from __future__ import annotations

import pytest

import harness.plan
from harness.knowledge import Knowledge
from harness.plan import plan
from harness.versions import catalogue
from tests.plan._corpus import CORPUS

CAT = catalogue()


def test_given_hops_are_used_as_they_are(knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = CAT.resolve("1.24"), CAT.resolve("1.29")
    computed = plan(source, target, snapshot=None, manifest_paths=[CORPUS], knowledge=knowledge)
    hops = CAT.hops(source, target)

    def no_catalogue() -> None:
        raise AssertionError("the hops were computed again")

    monkeypatch.setattr(harness.plan, "catalogue", no_catalogue)
    given = plan(source, target, snapshot=None, manifest_paths=[CORPUS], knowledge=knowledge, hops=hops)
    assert given.hops == computed.hops == [str(v) for v in hops]
    assert given.findings == computed.findings
    assert given.notes == computed.notes
