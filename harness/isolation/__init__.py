"""A rehearsal touches nothing outside itself: the objects it applies are rewritten so that its control plane never
dials an address production recorded (:func:`isolate`), and what production's webhooks would have answered is
answered by a stand-in the rehearsal runs (:class:`Stub`). What was neutralised is recorded for the report's safety
section, each as not judged: "production endpoint, not called".
"""

from __future__ import annotations

from harness.isolation._rewrite import (
    NOT_CALLED,
    NOWHERE,
    UNRESOLVABLE,
    Isolated,
    StubEndpoint,
    host_of,
    isolate,
    webhook_check_id,
)
from harness.isolation._stub import Stub, admit, convert

__all__ = [
    "NOT_CALLED",
    "NOWHERE",
    "UNRESOLVABLE",
    "Isolated",
    "Stub",
    "StubEndpoint",
    "admit",
    "convert",
    "host_of",
    "isolate",
    "webhook_check_id",
]
