"""Watching what runs through the upgrade: the rehearsal apiserver's audit log attributed to the recreated
workloads (:mod:`.calls`), and the recreated objects read back before and after each hop — drift, restarts,
storage versions (:mod:`.readback`)."""

from __future__ import annotations

from harness.observe.calls import SIMULATED_NOTE, ApiCalls, CallerCheck, Judgement, judge
from harness.observe.readback import Readback, Reading, drift_findings, restart_findings, storage_findings
from harness.observe.watch import Observed, Watch

__all__ = [
    "SIMULATED_NOTE",
    "ApiCalls",
    "CallerCheck",
    "Judgement",
    "Observed",
    "Readback",
    "Reading",
    "Watch",
    "drift_findings",
    "judge",
    "restart_findings",
    "storage_findings",
]
